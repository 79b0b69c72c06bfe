package groupcommit

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestBatchesConcurrentCallers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	first := true
	c := New(func(ctx context.Context, items []int) ([]int, error) {
		mu.Lock()
		sizes = append(sizes, len(items))
		wait := first
		first = false
		mu.Unlock()
		if wait {
			<-release // hold the first batch so the others queue up
		}
		out := make([]int, len(items))
		for i, v := range items {
			out[i] = v * 2
		}
		return out, nil
	}, Options{MaxBatch: 100})
	defer c.Close()

	var wg sync.WaitGroup
	results := make([]int, 51)
	wg.Add(1)
	go func() {
		defer wg.Done()
		r, err := c.Do(context.Background(), 0)
		if err != nil {
			t.Error(err)
		}
		results[0] = r
	}()
	// Wait until the first batch is being written.
	for {
		mu.Lock()
		n := len(sizes)
		mu.Unlock()
		if n == 1 {
			break
		}
	}
	queued := make(chan struct{}, 50)
	for i := 1; i <= 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			queued <- struct{}{}
			r, err := c.Do(context.Background(), i)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	for range 50 {
		<-queued
	}
	// Every caller has at least started submitting; wait until the queue
	// holds all of them, then let the first batch finish.
	for len(c.reqs) < 50 {
	}
	close(release)
	wg.Wait()
	for i, r := range results {
		if r != 2*i {
			t.Errorf("result %d = %d, want %d", i, r, 2*i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != 50 {
		t.Errorf("batch sizes = %v, want [1 50]", sizes)
	}
}

func TestErrorFailsBatchAndCloseRefuses(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	c := New(func(ctx context.Context, items []string) ([]string, error) {
		return nil, boom
	}, Options{})
	if _, err := c.Do(context.Background(), "x"); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	c.Close()
	c.Close()
	if _, err := c.Do(context.Background(), "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close err = %v, want ErrClosed", err)
	}
}
