package maintenance_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/maintenance"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

func TestRecoverTaskPagesUntilDone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := store.Truncate(time.Now())
	app := &store.App{ID: ids.New(ids.App), Name: "a", Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	ep := &store.Endpoint{ID: ids.New(ids.Endpoint), AppID: app.ID, URL: "https://example.com/", Disabled: true,
		Metadata: map[string]string{}, Headers: map[string]string{}, Secret: "x", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	// Five messages while the endpoint is disabled: five skipped deliveries.
	var msgs []string
	for range 5 {
		m := &store.Message{ID: ids.NewAt(ids.Message, now), AppID: app.ID, EventType: "a.b", Payload: []byte(`{}`),
			PayloadExpiresAt: now.Add(time.Hour), CreatedAt: now}
		rs, err := st.CreateMessages(ctx, []store.CreateMessageParams{{Message: m}})
		if err != nil || rs[0].Err != nil || rs[0].Skipped != 1 {
			t.Fatalf("create message: %v %+v", err, rs)
		}
		msgs = append(msgs, m.ID)
	}
	params, _ := json.Marshal(store.RecoverTaskParams{Since: now.Add(-time.Minute)})
	task := &store.Task{ID: ids.New(ids.Task), Kind: store.TaskRecover, AppID: app.ID, EndpointID: ep.ID,
		Params: params, Status: store.TaskRunning, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	wakes := 0
	svc := maintenance.New(maintenance.Config{Store: st, PageSize: 2, Wake: func() { wakes++ }})
	steps := 0
	for {
		busy, err := svc.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !busy {
			break
		}
		steps++
		if steps > 10 {
			t.Fatal("the task never finished")
		}
	}
	// Pages of 2: three pages with work, one that finds nothing.
	if steps != 4 || wakes != 3 {
		t.Errorf("steps = %d, wakes = %d; want 4 and 3", steps, wakes)
	}
	got, err := st.GetTask(ctx, task.ID)
	if err != nil || got.Status != store.TaskFinished {
		t.Fatalf("task = %+v, %v; want finished", got, err)
	}
	for _, m := range msgs {
		d, err := st.GetDelivery(ctx, store.DeliveryKey{MsgID: m, EndpointID: ep.ID})
		if err != nil || d.Status != store.StatusPending || !d.Manual {
			t.Errorf("delivery of %s = %+v, %v; want pending and manual", m, d, err)
		}
	}
}
