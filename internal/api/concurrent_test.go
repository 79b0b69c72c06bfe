package api_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

// raceStore is the real store with a hook that runs once, right after the
// API has read an endpoint and before it writes its change: the moment at
// which another process's write can come between the two.
type raceStore struct {
	store.Store
	once     sync.Once
	afterGet func()
}

func (s *raceStore) GetEndpoint(ctx context.Context, appID, idOrUID string) (*store.Endpoint, error) {
	ep, err := s.Store.GetEndpoint(ctx, appID, idOrUID)
	if err == nil && s.afterGet != nil {
		s.once.Do(s.afterGet)
	}
	return ep, err
}

// disableBy410 plays the delivery engine: it claims every due delivery and
// records a 410 Gone for each, which disables their endpoints.
func (b *bundle) disableBy410(t testing.TB) {
	ctx := context.Background()
	now := store.Truncate(b.clock.Now())
	jobs, err := b.store.ClaimDeliveries(ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Lease: 1, Limit: 100})
	if err != nil || len(jobs) == 0 {
		t.Errorf("claim: %d jobs, %v", len(jobs), err)
		return
	}
	var cs []store.Completion
	for _, j := range jobs {
		a := &store.Attempt{ID: ids.NewAt(ids.Attempt, now), AppID: j.AppID, MsgID: j.MsgID, EndpointID: j.EndpointID,
			URL: "https://e.com/", Status: store.StatusFail, StatusCode: 410, TriggerType: store.TriggerScheduled,
			EventType: j.EventType, CreatedAt: now}
		cs = append(cs, store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: j.Lease, Attempt: a,
			Status: store.StatusFail, DisableEndpoint: true})
	}
	if err := b.store.CompleteDeliveries(ctx, cs); err != nil {
		t.Errorf("complete: %v", err)
	}
}

// An API write changes only what its request names: an endpoint disabled by
// a 410 after the request read it stays disabled, failure clock included,
// whatever the request edits.
func TestEndpointEditKeepsConcurrentDisable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"patch", "PATCH", "", map[string]any{"description": "edited", "metadata": map[string]string{"k": "v"}}, 200},
		{"put headers", "PUT", "/headers", map[string]any{"headers": map[string]string{"X-A": "1"}}, 204},
		{"patch headers", "PATCH", "/headers", map[string]any{"headers": map[string]any{"X-A": "1"}}, 204},
		{"rotate secret", "POST", "/secret/rotate", map[string]any{}, 204},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			race := &raceStore{}
			b := setup(t, func(o *api.Options) { race.Store, o.Store = o.Store, race })
			app := b.createApp(t, map[string]any{"name": "a"})
			ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/hook"})["id"].(string)
			b.must(t, 202, "POST", "/api/v1/app/"+app+"/msg", map[string]any{"eventType": "x", "payload": map[string]any{}})

			race.afterGet = func() { b.disableBy410(t) }
			b.must(t, c.status, c.method, "/api/v1/app/"+app+"/endpoint/"+ep+c.path, c.body)

			if got := b.must(t, 200, "GET", "/api/v1/app/"+app+"/endpoint/"+ep, nil); got["disabled"] != true {
				t.Errorf("after %s %s overlapping a 410: disabled = %v, want true", c.method, c.path, got["disabled"])
			}
			stored, err := b.store.GetEndpointByID(t.Context(), ep)
			if err != nil {
				t.Fatal(err)
			}
			if stored.FailingSince.IsZero() {
				t.Errorf("after %s %s overlapping a 410: FailingSince cleared", c.method, c.path)
			}
		})
	}
}
