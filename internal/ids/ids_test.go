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
