package ids

import (
	"sort"
	"strings"
	"testing"
	"time"
)

func TestNewShapeAndOrder(t *testing.T) {
	t.Parallel()
	var got []string
	for range 10000 {
		got = append(got, New(Message))
	}
	for i, id := range got {
		if !strings.HasPrefix(id, Message) || len(id) != len(Message)+Length {
			t.Fatalf("id %q has the wrong shape", id)
		}
		if !Valid(Message, id) {
			t.Fatalf("Valid(%q) = false", id)
		}
		if i > 0 && got[i-1] >= id {
			t.Fatalf("ids not increasing: %q then %q", got[i-1], id)
		}
	}
	if !sort.StringsAreSorted(got) {
		t.Fatal("ids are not sorted")
	}
}

func TestTimeRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2031, 5, 6, 7, 8, 9, 123_000_000, time.UTC)
	id := NewAt(App, at)
	got, ok := Time(App, id)
	if !ok {
		t.Fatalf("Time(%q) not ok", id)
	}
	// Clamping may move it forward if another test made a later id, never back.
	if got.Before(at) {
		t.Fatalf("Time = %v, want >= %v", got, at)
	}
	low := Lower(App, at)
	if got, _ := Time(App, low); !got.Equal(at) {
		t.Fatalf("Lower time = %v, want %v", got, at)
	}
	if low > id {
		t.Fatalf("Lower(%v) = %q sorts after %q", at, low, id)
	}
}

func TestValidRejects(t *testing.T) {
	t.Parallel()
	for _, id := range []string{
		"", "app_", "ep_1srOrx2ZWZBpBUvZwXKQmoEYga2", "app_1srOrx2ZWZBpBUvZwXKQmoEYga", "app_1srOrx2ZWZBpBUvZwXKQmoEYga2x",
		"app_1srOrx2ZWZBpBUvZwXKQmoEYg-2", "app_zzzzzzzzzzzzzzzzzzzzzzzzzzz",
	} {
		if Valid(App, id) {
			t.Errorf("Valid(%q) = true", id)
		}
	}
	if !Valid(App, "app_1srOrx2ZWZBpBUvZwXKQmoEYga2") {
		t.Error("the Svix example id is not valid")
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		New(Message)
	}
}

// TestLowerOutOfRange checks that times an id cannot encode (before the
// epoch, after the year 10889) give the bounds of the id space instead of
// wrapping around: a query "after 1960" must find today's ids, one "after
// the year 20000" none.
func TestLowerOutOfRange(t *testing.T) {
	t.Parallel()
	now := New(Message)
	first := Lower(Message, time.Unix(0, 0))
	for _, at := range []time.Time{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(-1, 0), {}} {
		if got := Lower(Message, at); got != first || got > now {
			t.Errorf("Lower(%v) = %q, want %q (at most %q)", at, got, first, now)
		}
	}
	last := Lower(Message, time.UnixMilli(1<<48-1))
	for _, at := range []time.Time{time.UnixMilli(1 << 48), time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if got := Lower(Message, at); got != last || got < now {
			t.Errorf("Lower(%v) = %q, want %q (after %q)", at, got, last, now)
		}
	}
}

// At's ids hold the time they are given, even one before the ids already
// made, and two made at one time differ.
func TestAtKeepsItsTime(t *testing.T) {
	New(Message)
	past := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	a, b := At(Message, past), At(Message, past)
	if a == b {
		t.Fatalf("two ids at one time are equal: %s", a)
	}
	for _, id := range []string{a, b} {
		if got, ok := Time(Message, id); !ok || !got.Equal(past) {
			t.Fatalf("Time(%s) = %v, %v; want %v", id, got, ok, past)
		}
		if id < Lower(Message, past) || id >= Lower(Message, past.Add(time.Millisecond)) {
			t.Fatalf("%s is outside the ids of its millisecond", id)
		}
	}
}
