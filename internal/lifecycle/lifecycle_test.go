package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldhq/herald/internal/lifecycle"
)

func TestLoopStopBeforeStartAndTwice(t *testing.T) {
	t.Parallel()
	var l lifecycle.Loop
	if first, err := l.Stop(t.Context()); !first || err != nil {
		t.Fatalf("Stop before Start = %v, %v; want true, nil", first, err)
	}
	if l.Start(func(<-chan struct{}) { t.Error("ran after Stop") }) {
		t.Error("Start after Stop started the loop")
	}
	if first, err := l.Stop(t.Context()); first || err != nil {
		t.Errorf("second Stop = %v, %v; want false, nil", first, err)
	}
	select {
	case <-l.Stopping():
	default:
		t.Error("Stopping not closed after Stop")
	}
}

// Stop waits for the loop to return, but no longer than its context.
func TestLoopStopIsBoundedByItsContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var l lifecycle.Loop
		if !l.Start(func(stop <-chan struct{}) {
			<-stop
			time.Sleep(5 * time.Second) // a last step that takes long
		}) {
			t.Fatal("Start did not start the loop")
		}
		if l.Start(func(<-chan struct{}) { t.Error("ran twice") }) {
			t.Error("second Start started a second loop")
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		begin := time.Now()
		if _, err := l.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Stop = %v, want the context's deadline", err)
		}
		if took := time.Since(begin); took != time.Second {
			t.Errorf("Stop took %v, want its 1s bound", took)
		}

		var l2 lifecycle.Loop
		l2.Start(func(stop <-chan struct{}) { <-stop; time.Sleep(time.Second) })
		begin = time.Now()
		if _, err := l2.Stop(t.Context()); err != nil {
			t.Errorf("Stop = %v", err)
		}
		if took := time.Since(begin); took != time.Second {
			t.Errorf("Stop took %v, want the 1s the loop took to return", took)
		}
		time.Sleep(5 * time.Second) // the first loop's last step ends
	})
}

func TestGroupStopsInReverseOrder(t *testing.T) {
	t.Parallel()
	var g lifecycle.Group
	var log []string
	part := func(name string, failStop bool) {
		g.Add(name, func(context.Context) error { log = append(log, "start "+name); return nil },
			func(context.Context) error {
				log = append(log, "stop "+name)
				if failStop {
					return errors.New("stuck")
				}
				return nil
			})
	}
	part("store", false)
	g.Add("cache", nil, func(context.Context) error { log = append(log, "stop cache"); return nil })
	part("engine", true)
	part("http", false)
	if err := g.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := g.Stop(t.Context())
	if err == nil || err.Error() != "stop engine: stuck" {
		t.Errorf("Stop = %v, want the engine's error", err)
	}
	want := []string{"start store", "start engine", "start http", "stop http", "stop engine", "stop cache", "stop store"}
	if !slices.Equal(log, want) {
		t.Errorf("got %q, want %q", log, want)
	}
	if err := g.Stop(t.Context()); err != nil || len(log) != len(want) {
		t.Errorf("a second Stop did something: %v, %q", err, log)
	}
}
