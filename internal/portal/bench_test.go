package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/portal"
	"github.com/heraldhq/herald/internal/secretbox"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// The page benchmarks measure the server time of the portal's and the
// console's pages on a big application: 100,000 messages to 10 endpoints,
// 1,000,000 deliveries and as many attempts (one in ten failed), spread over
// the last 7 days, written through the store in big batches as the engine
// would (CreateMessages, ClaimDeliveries, CompleteDeliveries, which also
// keeps the hourly counters). Seeding takes a few minutes, once per run:
//
//	go test ./internal/portal -run '^$' -bench Page -benchtime 200x
//
// HERALD_BENCH_DB keeps the seeded database in that file between runs.

const (
	benchMessages  = 100_000
	benchEndpoints = 10
	benchApps      = 50
)

type benchEnv struct {
	handler  http.Handler
	app      *store.App
	endpoint string
	msg      string
	attempt  string
	portal   []*http.Cookie
	console  []*http.Cookie
}

var (
	benchOnce sync.Once
	bench     *benchEnv
	benchErr  error
)

func benchSetup(b *testing.B) *benchEnv {
	b.Helper()
	benchOnce.Do(func() { bench, benchErr = seedBench(b) })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return bench
}

func seedBench(b *testing.B) (*benchEnv, error) {
	ctx := context.Background()
	path := os.Getenv("HERALD_BENCH_DB")
	fresh := true
	if path == "" {
		dir, err := os.MkdirTemp("", "herald-portal-bench-")
		if err != nil {
			return nil, err
		}
		path = filepath.Join(dir, "herald.db")
	} else if _, err := os.Stat(path); err == nil {
		fresh = false
	}
	st, err := sqlite.Open(ctx, path, sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	key, _ := secretbox.ParseKey("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	box, _ := secretbox.New(key)
	now := store.Truncate(time.Now())
	svc := service.New(service.Config{Store: st, Box: box})
	env := &benchEnv{}
	if fresh {
		start := time.Now()
		if err := seed(ctx, st, box, now); err != nil {
			return nil, err
		}
		b.Logf("seeded %d messages and their attempts in %s", benchMessages, time.Since(start).Round(time.Second))
	}
	apps, err := st.FindApps(ctx, "big", store.Page{Limit: 1})
	if err != nil || len(apps) == 0 {
		return nil, fmt.Errorf("find the big app: %v", err)
	}
	env.app = apps[0]
	eps, err := st.ListEndpoints(ctx, env.app.ID, store.Page{Limit: 1})
	if err != nil {
		return nil, err
	}
	env.endpoint = eps[0].ID
	msgs, err := st.ListMessages(ctx, store.ListMessagesParams{AppID: env.app.ID, Page: store.Page{Limit: 1, Desc: true}})
	if err != nil {
		return nil, err
	}
	env.msg = msgs[0].ID
	atts, err := st.ListAttempts(ctx, store.ListAttemptsParams{AppID: env.app.ID, MsgID: env.msg, Page: store.Page{Limit: 1}})
	if err != nil {
		return nil, err
	}
	env.attempt = atts[0].ID
	p, err := portal.New(portal.Options{Service: svc, AdminToken: "bench-admin", Live: func() portal.Live { return portal.Live{} }})
	if err != nil {
		return nil, err
	}
	env.handler = p
	token, err := svc.CreatePortalToken(ctx, env.app.ID, time.Hour)
	if err != nil {
		return nil, err
	}
	env.portal = signInCookies(p, "/portal/session", token)
	env.console = signInCookies(p, "/console/session", "bench-admin")
	return env, nil
}

func signInCookies(h http.Handler, path, token string) []*http.Cookie {
	req := httptest.NewRequest("POST", path, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result().Cookies()
}

// seed writes the big app and 49 small ones.
func seed(ctx context.Context, st store.Store, box *secretbox.Box, now time.Time) error {
	types := []string{"invoice.paid", "invoice.voided", "user.created", "user.deleted", "order.shipped"}
	for _, name := range types {
		if err := st.CreateEventType(ctx, &store.EventType{Name: name, Description: name, CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
	}
	// Ids are time-sortable and made in increasing order in a process, as
	// Herald makes them at the time of the row: everything is written in
	// time order, from 7 days back.
	first := now.Add(-7 * 24 * time.Hour)
	var big *store.App
	for i := range benchApps {
		a := &store.App{ID: ids.NewAt(ids.App, first), Name: fmt.Sprintf("small %02d", i), Metadata: map[string]string{}, CreatedAt: first, UpdatedAt: first}
		if i == 0 {
			a.Name, a.UID = "big", "big"
			big = a
		}
		if err := st.CreateApp(ctx, a); err != nil {
			return err
		}
	}
	for i := range benchEndpoints {
		ep := &store.Endpoint{ID: ids.NewAt(ids.Endpoint, first), AppID: big.ID, URL: fmt.Sprintf("https://example.com/hooks/%d", i),
			Metadata: map[string]string{}, Headers: map[string]string{}, Secret: box.Seal("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
			CreatedAt: first, UpdatedAt: first}
		if err := st.CreateEndpoint(ctx, ep); err != nil {
			return err
		}
	}
	// Messages in batches of 200 (20 minutes of traffic), each batch's
	// deliveries attempted once right after it: claimed and completed.
	step := 7 * 24 * time.Hour / benchMessages
	const batch = 200
	lease := int64(0)
	for i := 0; i < benchMessages; i += batch {
		ps := make([]store.CreateMessageParams, 0, batch)
		var last time.Time
		for j := i; j < i+batch; j++ {
			last = first.Add(time.Duration(j) * step)
			ps = append(ps, store.CreateMessageParams{Message: &store.Message{
				ID: ids.NewAt(ids.Message, last), AppID: big.ID, EventType: types[j%len(types)],
				EventID: fmt.Sprintf("evt-%06d", j), Payload: []byte(fmt.Sprintf(`{"n":%d,"amount":4200}`, j)),
				PayloadExpiresAt: now.Add(90 * 24 * time.Hour), CreatedAt: last,
			}})
		}
		if _, err := st.CreateMessages(ctx, ps); err != nil {
			return err
		}
		for {
			lease++
			jobs, err := st.ClaimDeliveries(ctx, store.ClaimParams{Now: now, LeaseUntil: now.Add(time.Hour), Lease: lease, Limit: 5000})
			if err != nil {
				return err
			}
			if len(jobs) == 0 {
				break
			}
			cs := make([]store.Completion, len(jobs))
			for k, j := range jobs {
				at := last.Add(time.Second)
				a := &store.Attempt{ID: ids.NewAt(ids.Attempt, at), AppID: j.AppID, MsgID: j.MsgID, EndpointID: j.EndpointID,
					URL: "https://example.com/hooks", Status: store.StatusSuccess, StatusCode: 200, Response: `{"ok":true}`,
					DurationMs: 35, EventType: j.EventType, CreatedAt: at}
				status := store.StatusSuccess
				if fnv(j.MsgID+j.EndpointID)%10 == 0 {
					a.Status, a.StatusCode, a.Response, status = store.StatusFail, 500, `{"error":"boom"}`, store.StatusFail
				}
				cs[k] = store.Completion{MsgID: j.MsgID, EndpointID: j.EndpointID, Lease: lease, Attempt: a, Status: status}
			}
			if err := st.CompleteDeliveries(ctx, cs); err != nil {
				return err
			}
		}
	}
	return nil
}

func fnv(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

func benchPage(b *testing.B, console bool, path string) {
	env := benchSetup(b)
	path = strings.NewReplacer("{app}", env.app.ID, "{ep}", env.endpoint, "{msg}", env.msg, "{attempt}", env.attempt).Replace(path)
	cookies := env.portal
	if console {
		cookies = env.console
	}
	serve := func() {
		req := httptest.NewRequest("GET", path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		env.handler.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	serve() // warm the statement cache
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		serve()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/page")
}

func BenchmarkPage(b *testing.B) {
	pages := []struct {
		name    string
		console bool
		path    string
	}{
		{"PortalEndpoints", false, "/portal/app/{app}/"},
		{"PortalEndpoint", false, "/portal/app/{app}/endpoint/{ep}"},
		{"PortalEndpointFailed", false, "/portal/app/{app}/endpoint/{ep}?status=fail"},
		{"PortalEndpointByType", false, "/portal/app/{app}/endpoint/{ep}?event_type=user.deleted"},
		// A filter nothing matches: the page examines a window of
		// attempts (not all 100,000) and links to the next.
		{"PortalEndpointNoMatch", false, "/portal/app/{app}/endpoint/{ep}?event_type=svix.ping"},
		{"PortalActivity", false, "/portal/app/{app}/activity"},
		{"PortalActivityFailed", false, "/portal/app/{app}/activity?status=fail"},
		{"PortalActivityByType", false, "/portal/app/{app}/activity?event_type=order.shipped&since=" + time.Now().UTC().Add(-48*time.Hour).Format("2006-01-02T15:04")},
		{"PortalActivityNoMatch", false, "/portal/app/{app}/activity?channel=nowhere"},
		{"PortalActivityBefore", false, "/portal/app/{app}/activity?before=" + time.Now().UTC().Add(-72*time.Hour).Format("2006-01-02T15:04")},
		{"PortalMessage", false, "/portal/app/{app}/msg/{msg}"},
		{"PortalAttempt", false, "/portal/app/{app}/msg/{msg}/attempt/{attempt}"},
		{"PortalCatalogue", false, "/portal/app/{app}/event-types"},
		{"ConsoleOverview", true, "/console/"},
		{"ConsoleApps", true, "/console/apps"},
		{"ConsoleFailing", true, "/console/failing"},
	}
	for _, pg := range pages {
		b.Run(pg.name, func(b *testing.B) { benchPage(b, pg.console, pg.path) })
	}
}
