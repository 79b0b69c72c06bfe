package server_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/store/postgres/pgtest"
)

// A message accepted by a replica that does not deliver it (its engine is
// stopped, so nothing is leased to it) is picked up by an idle replica
// through LISTEN/NOTIFY, without waiting for that replica's next poll, and
// signed with the endpoint's secret although another replica sealed it.
func TestReplicaWakesOnAnotherReplicasMessage(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	onPostgres := func(c *config.Config) { c.Database = url }
	a := start(t, onPostgres)
	b := start(t, onPostgres)

	var (
		mu       sync.Mutex
		received = map[string]time.Time{}
	)
	rcv := newReceiver(t)
	rcv.respond = func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received[r.Header.Get("webhook-id")] = time.Now()
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}
	app := a.app()
	// B signs with the secret A sealed: the key that seals secrets is
	// shared through the database when none is configured.
	_, secret := a.endpoint(app, map[string]any{"url": rcv.srv.URL})
	rcv.mu.Lock()
	rcv.secret = secret
	rcv.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.srv.StopDelivery(ctx); err != nil {
		t.Fatal(err)
	}
	// B's engine has polled at least once by now; send one message at a
	// time and time its way from A's 202 to the receiver.
	var lat []time.Duration
	for range 20 {
		id := a.send(app, "test.event", `{"n":1}`, nil)
		accepted := time.Now()
		eventually(t, "delivery by the other replica", func() bool {
			mu.Lock()
			defer mu.Unlock()
			_, ok := received[id]
			return ok
		})
		mu.Lock()
		lat = append(lat, received[id].Sub(accepted))
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(lat)
	t.Logf("pickup by the other replica after the 202: min %v, median %v, max %v", lat[0], lat[len(lat)/2], lat[len(lat)-1])
	// Polling every 250ms would give a median near 125ms.
	if med := lat[len(lat)/2]; med > 60*time.Millisecond {
		t.Errorf("median pickup %v: the other replica waited for its poll instead of being notified", med)
	}
	_ = b
}
