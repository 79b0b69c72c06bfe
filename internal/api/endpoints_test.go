package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/egress"
	"github.com/heraldhq/herald/internal/store"
)

// Documented bounds of an endpoint's event types and custom headers.
const (
	maxEventTypes = 1000
	maxHeaders    = 100
	maxHeaderName = 256
)

// secretOf reads an endpoint's secret through the API.
func (b *bundle) secretOf(t testing.TB, app, ep string) string {
	t.Helper()
	key, _ := b.must(t, 200, "GET", "/api/v1/app/"+app+"/endpoint/"+ep+"/secret", nil)["key"].(string)
	return key
}

func TestEndpointCRUD(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "e", "uid": "e"})
	b.createEventType(t, "ep.a")
	b.createEventType(t, "ep.b")

	ep := b.createEndpoint(t, "e", map[string]any{
		"url": "https://example.com/hook", "description": "d", "uid": "ep-one", "eventTypes": []string{"ep.a"},
		"channels": []string{"c1"}, "throttleRate": 3, "metadata": map[string]string{"m": "1"},
	})
	id, _ := ep["id"].(string)
	if !strings.HasPrefix(id, "ep_") {
		t.Fatalf("id = %q", id)
	}
	for k, want := range map[string]any{"url": "https://example.com/hook", "description": "d", "uid": "ep-one",
		"throttleRate": 3.0, "rateLimit": 3.0, "disabled": false, "version": 1.0} {
		if ep[k] != want {
			t.Errorf("%s = %v, want %v", k, ep[k], want)
		}
	}
	if fmt.Sprint(ep["eventTypes"]) != "[ep.a]" || fmt.Sprint(ep["filterTypes"]) != "[ep.a]" || fmt.Sprint(ep["channels"]) != "[c1]" {
		t.Errorf("filters = %v %v %v", ep["eventTypes"], ep["filterTypes"], ep["channels"])
	}
	if _, ok := ep["secret"]; ok {
		t.Error("endpoint out shows the secret")
	}

	// The generated secret: whsec_ + base64 of 24 bytes.
	key := b.secretOf(t, app, id)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(key, "whsec_"))
	if !strings.HasPrefix(key, "whsec_") || err != nil || len(raw) != 24 {
		t.Errorf("generated secret %q: %d bytes, %v", key, len(raw), err)
	}

	// Get by id and uid, app by id or uid.
	for _, p := range []string{"/api/v1/app/e/endpoint/" + id, "/api/v1/app/" + app + "/endpoint/ep-one"} {
		if got := b.must(t, 200, "GET", p, nil); got["id"] != id {
			t.Errorf("GET %s = %v", p, got)
		}
	}

	// Defaults: no filters are null.
	plain := b.createEndpoint(t, app, map[string]any{"url": "https://example.com"})
	if plain["url"] != "https://example.com/" {
		t.Errorf("url not normalized: %v", plain["url"])
	}
	for _, k := range []string{"eventTypes", "filterTypes", "channels", "uid", "throttleRate", "rateLimit"} {
		if v, ok := plain[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}
	if plain["description"] != "" || plain["disabled"] != false {
		t.Errorf("defaults = %v", plain)
	}

	// Older field names.
	old := b.createEndpoint(t, app, map[string]any{"url": "https://example.com/old", "filterTypes": []string{"ep.b"}, "rateLimit": 9, "version": 1})
	if fmt.Sprint(old["eventTypes"]) != "[ep.b]" || old["throttleRate"] != 9.0 {
		t.Errorf("aliases = %v", old)
	}

	// Uids are unique per app.
	wantError(t, b.do(t, "POST", "/api/v1/app/"+app+"/endpoint", map[string]any{"url": "https://x.com/", "uid": "ep-one"}), 409, "conflict")
	other := b.createApp(t, map[string]any{"name": "other"})
	b.createEndpoint(t, other, map[string]any{"url": "https://x.com/", "uid": "ep-one"})
	wantError(t, b.do(t, "GET", "/api/v1/app/"+other+"/endpoint/"+id, nil), 404, "not_found")
	wantError(t, b.do(t, "POST", "/api/v1/app/missing/endpoint", map[string]any{"url": "https://x.com/"}), 404, "not_found")

	// Default order is newest first.
	env := b.list(t, "/api/v1/app/"+app+"/endpoint")
	if got, want := env.ids("id"), []string{old["id"].(string), plain["id"].(string), id}; !slices.Equal(got, want) {
		t.Errorf("list = %v, want %v", got, want)
	}
	env = b.list(t, "/api/v1/app/"+app+"/endpoint?order=ascending&limit=2")
	if got := env.ids("id"); !slices.Equal(got, []string{id, plain["id"].(string)}) || env.Done {
		t.Errorf("ascending page = %v done %v", got, env.Done)
	}
	env = b.list(t, "/api/v1/app/"+app+"/endpoint?order=ascending&limit=2&iterator="+*env.Iterator)
	if got := env.ids("id"); !slices.Equal(got, []string{old["id"].(string)}) || !env.Done {
		t.Errorf("second ascending page = %v done %v", got, env.Done)
	}

	// PUT replaces; omitted fields reset.
	put := b.must(t, 200, "PUT", "/api/v1/app/"+app+"/endpoint/ep-one", map[string]any{"url": "https://example.com/put"})
	if put["id"] != id || put["url"] != "https://example.com/put" || put["uid"] != nil || put["eventTypes"] != nil ||
		put["channels"] != nil || put["throttleRate"] != nil || put["description"] != "" || len(put["metadata"].(map[string]any)) != 0 {
		t.Errorf("PUT = %v", put)
	}
	if b.secretOf(t, app, id) != key {
		t.Error("PUT changed the secret")
	}
	// PUT of a missing endpoint creates it, uid from the body.
	created := b.must(t, 201, "PUT", "/api/v1/app/"+app+"/endpoint/put-path", map[string]any{"url": "https://example.com/new", "uid": "put-body"})
	if created["uid"] != "put-body" {
		t.Errorf("PUT create = %v", created)
	}
	wantError(t, b.do(t, "PUT", "/api/v1/app/missing/endpoint/x", map[string]any{"url": "https://example.com/"}), 404, "not_found")

	// PATCH: absent unchanged, null clears.
	b.must(t, 200, "PUT", "/api/v1/app/"+app+"/endpoint/"+id, map[string]any{
		"url": "https://example.com/p", "uid": "pp", "description": "desc", "eventTypes": []string{"ep.a"},
		"channels": []string{"c"}, "throttleRate": 4, "metadata": map[string]string{"a": "b"},
	})
	p := b.must(t, 200, "PATCH", "/api/v1/app/"+app+"/endpoint/pp", map[string]any{"disabled": true})
	if p["disabled"] != true || p["uid"] != "pp" || p["description"] != "desc" || fmt.Sprint(p["eventTypes"]) != "[ep.a]" ||
		fmt.Sprint(p["channels"]) != "[c]" || p["throttleRate"] != 4.0 || p["url"] != "https://example.com/p" {
		t.Errorf("PATCH disabled = %v", p)
	}
	p = b.must(t, 200, "PATCH", "/api/v1/app/"+app+"/endpoint/pp", map[string]any{"filterTypes": []string{"ep.b"}, "rateLimit": 8})
	if fmt.Sprint(p["eventTypes"]) != "[ep.b]" || p["throttleRate"] != 8.0 {
		t.Errorf("PATCH aliases = %v", p)
	}
	p = b.must(t, 200, "PATCH", "/api/v1/app/"+app+"/endpoint/pp", map[string]any{
		"uid": nil, "eventTypes": nil, "channels": nil, "throttleRate": nil, "metadata": nil})
	if p["uid"] != nil || p["eventTypes"] != nil || p["channels"] != nil || p["throttleRate"] != nil ||
		len(p["metadata"].(map[string]any)) != 0 || p["description"] != "desc" || p["disabled"] != true {
		t.Errorf("PATCH nulls = %v", p)
	}
	for _, body := range []map[string]any{{"url": nil}, {"description": nil}, {"disabled": nil}, {"url": "ftp://x"}, {"eventTypes": []string{"nope"}}} {
		if r := b.do(t, "PATCH", "/api/v1/app/"+app+"/endpoint/"+id, body); r.Status != 422 {
			t.Errorf("PATCH %v: %s", body, r)
		}
	}
	// A secret in a PATCH is ignored, as by the Svix server: secrets
	// change by rotation only.
	before := b.secretOf(t, app, id)
	b.must(t, 200, "PATCH", "/api/v1/app/"+app+"/endpoint/"+id, map[string]any{"description": "x", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	if b.secretOf(t, app, id) != before {
		t.Error("PATCH changed the secret")
	}
	// The stored endpoint matches what the API said.
	stored, err := b.store.GetEndpoint(context.Background(), app, id)
	if err != nil || stored.Description != "x" || !stored.Disabled || stored.EventTypes != nil {
		t.Errorf("stored = %+v, %v", stored, err)
	}

	b.must(t, 204, "DELETE", "/api/v1/app/"+app+"/endpoint/"+id, nil)
	wantError(t, b.do(t, "GET", "/api/v1/app/"+app+"/endpoint/"+id, nil), 404, "not_found")
	wantError(t, b.do(t, "DELETE", "/api/v1/app/"+app+"/endpoint/"+id, nil), 404, "not_found")
	wantError(t, b.do(t, "GET", "/api/v1/app/"+app+"/endpoint/"+id+"/secret", nil), 404, "not_found")
}

func TestEndpointValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "v"})
	b.createEventType(t, "live")
	b.createEventType(t, "gone")
	b.must(t, 204, "DELETE", "/api/v1/event-type/gone", nil)

	bytes24 := base64.StdEncoding.EncodeToString([]byte("0123456789abcdefghijklmn"))
	for _, secret := range []string{"whsec_" + bytes24, bytes24, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		ep := b.createEndpoint(t, app, map[string]any{"url": "https://example.com/", "secret": secret})
		want := secret
		if !strings.HasPrefix(want, "whsec_") {
			want = "whsec_" + want
		}
		if got := b.secretOf(t, app, ep["id"].(string)); got != want {
			t.Errorf("secret %q: stored %q", secret, got)
		}
	}

	cases := []struct {
		name string
		body map[string]any
		loc  []string
	}{
		{"missing url", map[string]any{}, []string{"body", "url"}},
		{"ftp url", map[string]any{"url": "ftp://example.com/"}, []string{"body", "url"}},
		{"relative url", map[string]any{"url": "/hook"}, []string{"body", "url"}},
		{"no host", map[string]any{"url": "https:///hook"}, []string{"body", "url"}},
		{"not a url", map[string]any{"url": "http://[::1"}, []string{"body", "url"}},
		{"secret too short", map[string]any{"url": "https://e.com/", "secret": "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16))}, []string{"body", "secret"}},
		{"secret too long", map[string]any{"url": "https://e.com/", "secret": "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 100))}, []string{"body", "secret"}},
		{"secret not base64", map[string]any{"url": "https://e.com/", "secret": "whsec_!!!!not-base64!!!!!!!!!!!!!!!!!!"}, []string{"body", "secret"}},
		{"public key as secret", map[string]any{"url": "https://e.com/", "secret": "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="}, []string{"body", "secret"}},
		{"empty eventTypes", map[string]any{"url": "https://e.com/", "eventTypes": []string{}}, []string{"body", "eventTypes"}},
		{"empty channels", map[string]any{"url": "https://e.com/", "channels": []string{}}, []string{"body", "channels"}},
		{"too many channels", map[string]any{"url": "https://e.com/", "channels": strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",")}, []string{"body", "channels"}},
		{"bad channel", map[string]any{"url": "https://e.com/", "channels": []string{"a b"}}, []string{"body", "channels", "0"}},
		{"uid prefix", map[string]any{"url": "https://e.com/", "uid": "ep_1"}, []string{"body", "uid"}},
		{"rate", map[string]any{"url": "https://e.com/", "rateLimit": 0}, []string{"body", "throttleRate"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			wantValidation(t, b.do(t, "POST", "/api/v1/app/"+app+"/endpoint", c.body), c.loc...)
		})
	}

	// Unknown and archived event types are named.
	for _, field := range []string{"eventTypes", "filterTypes"} {
		r := b.do(t, "POST", "/api/v1/app/"+app+"/endpoint", map[string]any{"url": "https://e.com/", field: []string{"live", "missing", "gone"}})
		wantValidation(t, r, "body", "eventTypes")
		if !strings.Contains(string(r.Body), "missing") || !strings.Contains(string(r.Body), "gone") || strings.Contains(string(r.Body), "live") {
			t.Errorf("%s: %s", field, r.Body)
		}
	}

	// URL normalisation, as the Svix server stores URLs.
	for in, want := range map[string]string{
		"https://e.com":              "https://e.com/",
		"http://e.com:8080":          "http://e.com:8080/",
		"https://e.com/a/b?x=1":      "https://e.com/a/b?x=1",
		"https://e.com?x=1":          "https://e.com/?x=1",
		"https://user:pw@e.com/hook": "https://user:pw@e.com/hook",
	} {
		got := b.createEndpoint(t, app, map[string]any{"url": in})["url"]
		if got != want {
			t.Errorf("url %q stored as %v, want %q", in, got, want)
		}
	}
	if env := b.list(t, "/api/v1/app/"+app+"/endpoint?limit=250"); len(env.Data) != 8 {
		t.Errorf("%d endpoints, want 8 (nothing created by refused requests)", len(env.Data))
	}
}

func TestEndpointHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "h"})
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
	path := "/api/v1/app/" + app + "/endpoint/" + ep + "/headers"

	got := b.must(t, 200, "GET", path, nil)
	if fmt.Sprint(got) != "map[headers:map[] sensitive:[]]" {
		t.Errorf("no headers = %v", got)
	}
	b.must(t, 204, "PUT", path, map[string]any{"headers": map[string]string{"X-One": "1", "X-Two": "2", "Authorization": "Bearer s3cret", "X-Api-Key": "k"}})
	r := b.do(t, "GET", path, nil)
	got = r.object(t)
	if fmt.Sprint(got["headers"]) != "map[X-One:1 X-Two:2]" || fmt.Sprint(got["sensitive"]) != "[Authorization X-Api-Key]" {
		t.Errorf("headers = %v", got)
	}
	if strings.Contains(string(r.Body), "s3cret") {
		t.Errorf("a sensitive value is shown: %s", r.Body)
	}

	// PATCH merges; null deletes (any spelling of the name).
	b.must(t, 204, "PATCH", path, map[string]any{"headers": map[string]any{"x-one": nil, "X-Three": "3"}})
	got = b.must(t, 200, "GET", path, nil)
	if fmt.Sprint(got["headers"]) != "map[X-Three:3 X-Two:2]" || fmt.Sprint(got["sensitive"]) != "[Authorization X-Api-Key]" {
		t.Errorf("after PATCH = %v", got)
	}
	// PUT replaces.
	b.must(t, 204, "PUT", path, map[string]any{"headers": map[string]string{"X-Only": "o"}})
	got = b.must(t, 200, "GET", path, nil)
	if fmt.Sprint(got) != "map[headers:map[X-Only:o] sensitive:[]]" {
		t.Errorf("after PUT = %v", got)
	}

	for _, name := range []string{"Content-Type", "user-agent", "Host", "Transfer-Encoding", "svix-id", "Webhook-Signature", "X-Amz-Date", "X-Svix-Foo", "bad name", "bad:name", ""} {
		for _, method := range []string{"PUT", "PATCH"} {
			r := b.do(t, method, path, map[string]any{"headers": map[string]string{name: "v"}})
			wantValidation(t, r, "body", "headers", name)
		}
	}
	for _, value := range []string{"a\nb", "a\rb", "a\x00b", strings.Repeat("v", 4097)} {
		wantValidation(t, b.do(t, "PUT", path, map[string]any{"headers": map[string]string{"X-Bad": value}}), "body", "headers", "X-Bad")
	}
	wantValidation(t, b.do(t, "PUT", path, map[string]any{}), "body", "headers")
	got = b.must(t, 200, "GET", path, nil)
	if fmt.Sprint(got["headers"]) != "map[X-Only:o]" {
		t.Errorf("refused requests changed headers: %v", got)
	}
	wantError(t, b.do(t, "GET", "/api/v1/app/"+app+"/endpoint/missing/headers", nil), 404, "not_found")
}

func TestSecretRotation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "r"})
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
	rotate := "/api/v1/app/" + app + "/endpoint/" + ep + "/secret/rotate"
	stored := func() []string {
		t.Helper()
		e, err := b.store.GetEndpoint(context.Background(), app, ep)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range e.OldSecrets {
			s, err := b.box.Open(o.Secret)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}

	first := b.secretOf(t, app, ep)
	if r := b.do(t, "POST", rotate, map[string]any{}); r.Status != 204 || len(r.Body) != 0 {
		t.Fatalf("rotate: %s", r)
	}
	second := b.secretOf(t, app, ep)
	if second == first || !strings.HasPrefix(second, "whsec_") {
		t.Fatalf("rotated secret %q (was %q)", second, first)
	}
	if old := stored(); !slices.Equal(old, []string{first}) {
		t.Errorf("old secrets = %v, want [%s]", old, first)
	}

	given := "whsec_" + base64.StdEncoding.EncodeToString([]byte("given-secret-of-32-bytes-long!!!"))
	b.must(t, 204, "POST", rotate, map[string]any{"key": given})
	if got := b.secretOf(t, app, ep); got != given {
		t.Errorf("given key: %q, want %q", got, given)
	}

	for _, bad := range []any{-1, 604801, "1"} {
		wantValidation(t, b.do(t, "POST", rotate, map[string]any{"gracePeriodSeconds": bad}), "body", "gracePeriodSeconds")
	}
	for _, bad := range []string{"short", "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="} {
		wantValidation(t, b.do(t, "POST", rotate, map[string]any{"key": bad}), "body", "key")
	}
	if got := b.secretOf(t, app, ep); got != given {
		t.Errorf("refused rotations changed the secret")
	}

	// Grace period 0 keeps no old key.
	before := len(stored())
	b.must(t, 204, "POST", rotate, map[string]any{"gracePeriodSeconds": 0})
	if old := stored(); len(old) != before || slices.Contains(old, given) {
		t.Errorf("grace 0: old secrets %v", old)
	}

	// Ten old keys at most within their grace period.
	for len(stored()) < 10 {
		b.must(t, 204, "POST", rotate, map[string]any{"gracePeriodSeconds": 3600})
	}
	cur := b.secretOf(t, app, ep)
	wantError(t, b.do(t, "POST", rotate, map[string]any{}), 400, "limit_reached")
	if b.secretOf(t, app, ep) != cur {
		t.Error("refused rotation changed the secret")
	}
	// Grace 0 adds no old key, so it is still allowed.
	b.must(t, 204, "POST", rotate, map[string]any{"gracePeriodSeconds": 0})
	// Once the old keys expire, rotation works again.
	b.clock.Advance(25 * time.Hour)
	b.must(t, 204, "POST", rotate, nil)
	if old := stored(); len(old) != 1 {
		t.Errorf("after expiry: %d old secrets, want 1", len(old))
	}
	wantError(t, b.do(t, "POST", "/api/v1/app/"+app+"/endpoint/missing/secret/rotate", nil), 404, "not_found")
}

// TestEndpointEd25519 checks a whsk_ secret: the API shows its public key.
func TestEndpointEd25519(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "ed"})
	sk := "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/", "secret": sk})["id"].(string)
	if got := b.secretOf(t, app, ep); got != "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=" {
		t.Errorf("public key = %q", got)
	}
	b.must(t, 204, "POST", "/api/v1/app/"+app+"/endpoint/"+ep+"/secret/rotate", nil)
	if got := b.secretOf(t, app, ep); !strings.HasPrefix(got, "whpk_") || got == "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=" {
		t.Errorf("rotated ed25519 public key = %q", got)
	}
	_ = http.StatusOK
}

// wantValidationMsg checks a 422 with an item at loc whose message contains
// msg.
func wantValidationMsg(t testing.TB, r *response, msg string, loc ...string) {
	t.Helper()
	wantValidation(t, r, loc...)
	var body struct {
		Detail []struct {
			Loc []string
			Msg string
		}
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	for _, it := range body.Detail {
		if slices.Equal(it.Loc, loc) && strings.Contains(it.Msg, msg) {
			return
		}
	}
	t.Errorf("422 without %q at %v: %s", msg, loc, r.Body)
}

// TestEndpointURLAsTheSenderSeesIt checks that an endpoint URL the sender
// would refuse on every attempt is refused when it is set, with the
// sender's own message, and that one it accepts is stored.
func TestEndpointURLAsTheSenderSeesIt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "urls"})
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/keep"})["id"].(string)
	long := "https://e.com/" + strings.Repeat("a", egress.MaxURLLength-len("https://e.com/"))
	for _, u := range []string{
		long + "a",
		"https://e.com?" + strings.Repeat("q", egress.MaxURLLength-len("https://e.com?")), // 2,049 bytes once stored with its path
		"https://bad!host/", "https://e.com:/", "https://e.com:0/", "https://e.com:65536/", "https://e.com:99999999999999999999/",
		" https://e.com/", "https://ex ample.com/", "https://exämple.com/", "ftp://e.com/", "https:///x", "",
	} {
		want := "with the path"
		if err := egress.ValidateURL(u); err != nil {
			want = err.Error()
		}
		for _, req := range []struct{ method, path string }{
			{"POST", "/api/v1/app/" + app + "/endpoint"},
			{"PUT", "/api/v1/app/" + app + "/endpoint/" + ep},
			{"PATCH", "/api/v1/app/" + app + "/endpoint/" + ep},
		} {
			wantValidationMsg(t, b.do(t, req.method, req.path, map[string]any{"url": u}), want, "body", "url")
		}
	}
	if got := b.must(t, 200, "GET", "/api/v1/app/"+app+"/endpoint/"+ep, nil); got["url"] != "https://e.com/keep" {
		t.Errorf("url after refused requests: %v", got["url"])
	}
	// The longest URL the sender takes is accepted.
	if got := b.createEndpoint(t, app, map[string]any{"url": long})["url"]; got != long {
		t.Errorf("url of %d bytes stored as %v", len(long), got)
	}
	b.must(t, 200, "PATCH", "/api/v1/app/"+app+"/endpoint/"+ep, map[string]any{"url": "https://e.com:65535/"})
}

// countingStore counts the event type lookups the API makes.
type countingStore struct {
	store.Store
	one, many atomic.Int32
}

func (s *countingStore) GetEventType(ctx context.Context, name string) (*store.EventType, error) {
	s.one.Add(1)
	return s.Store.GetEventType(ctx, name)
}

func (s *countingStore) GetEventTypes(ctx context.Context, names []string) ([]*store.EventType, error) {
	s.many.Add(1)
	return s.Store.GetEventTypes(ctx, names)
}

// TestEndpointEventTypesBounded checks that an endpoint filters on at most
// 1,000 event types, checked in one query whatever their number.
func TestEndpointEventTypesBounded(t *testing.T) {
	t.Parallel()
	var counted *countingStore
	b := setup(t, func(o *api.Options) {
		counted = &countingStore{Store: o.Store}
		o.Store = counted
	})
	app := b.createApp(t, map[string]any{"name": "many"})
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
	names := make([]string, maxEventTypes)
	for i := range names {
		names[i] = fmt.Sprintf("many.%d", i)
		if i < 3 {
			b.createEventType(t, names[i])
		}
	}
	lookups := func() (one, many int32) { return counted.one.Swap(0), counted.many.Swap(0) }
	lookups()

	// The most there may be: every missing one is named, from one query.
	r := b.do(t, "POST", "/api/v1/app/"+app+"/endpoint", map[string]any{"url": "https://e.com/", "eventTypes": names})
	wantValidationMsg(t, r, "don't exist: many.3, many.4, ", "body", "eventTypes")
	if strings.Contains(string(r.Body), "many.2,") {
		t.Errorf("existing event type named missing: %.200s", r.Body)
	}
	if one, many := lookups(); one != 0 || many != 1 {
		t.Errorf("%d event types checked: %d single lookups and %d list lookups, want 0 and 1", len(names), one, many)
	}
	got := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/", "eventTypes": names[:3]})
	if fmt.Sprint(got["eventTypes"]) != "[many.0 many.1 many.2]" {
		t.Errorf("eventTypes = %v", got["eventTypes"])
	}
	if one, many := lookups(); one != 0 || many != 1 {
		t.Errorf("3 event types checked: %d single lookups and %d list lookups, want 0 and 1", one, many)
	}

	// One more is refused before any lookup, on every route that sets them.
	over := append(slices.Clone(names), "many.x")
	for _, req := range []struct {
		method, path string
		body         map[string]any
	}{
		{"POST", "/api/v1/app/" + app + "/endpoint", map[string]any{"url": "https://e.com/", "eventTypes": over}},
		{"POST", "/api/v1/app/" + app + "/endpoint", map[string]any{"url": "https://e.com/", "filterTypes": over}},
		{"PUT", "/api/v1/app/" + app + "/endpoint/" + ep, map[string]any{"url": "https://e.com/", "eventTypes": over}},
		{"PATCH", "/api/v1/app/" + app + "/endpoint/" + ep, map[string]any{"eventTypes": over}},
	} {
		r := b.do(t, req.method, req.path, req.body)
		wantValidationMsg(t, r, "must have at most 1000 items", "body", "eventTypes")
		if n := strings.Count(string(r.Body), `"loc"`); n != 1 {
			t.Errorf("%s %s: %d problems reported, want 1", req.method, req.path, n)
		}
	}
	if one, many := lookups(); one != 0 || many != 0 {
		t.Errorf("oversized lists looked up: %d, %d", one, many)
	}
	// List filters take as many.
	q := "event_types=" + strings.Join(over, ",")
	for _, p := range []string{"/msg", "/endpoint/" + ep + "/msg", "/attempt/endpoint/" + ep} {
		wantValidationMsg(t, b.do(t, "GET", "/api/v1/app/"+app+p+"?"+q, nil), "at most 1000", "query", "event_types")
	}
	b.list(t, "/api/v1/app/"+app+"/msg?event_types="+strings.Join(names, ","))
}

// TestEndpointHeaderNames checks that custom header names are bounded and
// case-insensitive, as HTTP's are: stored in canonical form, refused twice
// in one request whatever their case, replaced by PATCH whatever the case
// it is written in, and refused when reserved in any case.
func TestEndpointHeaderNames(t *testing.T) {
	t.Parallel()
	b := setup(t)
	app := b.createApp(t, map[string]any{"name": "hn"})
	ep := b.createEndpoint(t, app, map[string]any{"url": "https://e.com/"})["id"].(string)
	path := "/api/v1/app/" + app + "/endpoint/" + ep + "/headers"
	headers := func() string {
		t.Helper()
		got := b.must(t, 200, "GET", path, nil)
		return fmt.Sprint(got["headers"], got["sensitive"])
	}

	b.must(t, 204, "PUT", path, map[string]any{"headers": map[string]string{"x-custom-header": "v", "authorization": "s"}})
	if got := headers(); got != "map[X-Custom-Header:v] [Authorization]" {
		t.Errorf("after PUT: %s", got)
	}
	b.must(t, 204, "PATCH", path, map[string]any{"headers": map[string]any{"X-CUSTOM-HEADER": "w", "x-other": "o"}})
	if got := headers(); got != "map[X-Custom-Header:w X-Other:o] [Authorization]" {
		t.Errorf("after PATCH: %s", got)
	}
	b.must(t, 204, "PATCH", path, map[string]any{"headers": map[string]any{"x-CUSTOM-header": nil, "AUTHORIZATION": nil}})
	if got := headers(); got != "map[X-Other:o] []" {
		t.Errorf("after PATCH deleting: %s", got)
	}

	// Two spellings of one name in a request, even the same one twice.
	for _, c := range []struct{ method, body, second string }{
		{"PUT", `{"headers": {"X-A": "1", "x-a": "2"}}`, "x-a"},
		{"PUT", `{"headers": {"X-A": "1", "X-A": "2"}}`, "X-A"},
		{"PATCH", `{"headers": {"x-b": "1", "X-B": null}}`, "X-B"},
	} {
		wantValidationMsg(t, b.do(t, c.method, path, c.body), "case-insensitive", "body", "headers", c.second)
	}

	// Bounds: names of 256 bytes, values of 4,096, 100 headers.
	long := "X-" + strings.Repeat("n", maxHeaderName-2)
	b.must(t, 204, "PUT", path, map[string]any{"headers": map[string]string{long: strings.Repeat("v", 4096)}})
	for _, method := range []string{"PUT", "PATCH"} {
		wantValidationMsg(t, b.do(t, method, path, map[string]any{"headers": map[string]string{long + "n": "v"}}),
			"256 bytes", "body", "headers", long+"n")
		wantValidationMsg(t, b.do(t, method, path, map[string]any{"headers": map[string]string{"X-V": strings.Repeat("v", 4097)}}),
			"4096 bytes", "body", "headers", "X-V")
	}
	many := map[string]string{}
	for i := range maxHeaders {
		many[fmt.Sprintf("X-H%d", i)] = "v"
	}
	b.must(t, 204, "PUT", path, map[string]any{"headers": many})
	many["X-One-Too-Many"] = "v"
	wantValidationMsg(t, b.do(t, "PUT", path, map[string]any{"headers": many}), "at most 100", "body", "headers")
	wantValidationMsg(t, b.do(t, "PATCH", path, map[string]any{"headers": map[string]string{"X-One-Too-Many": "v"}}), "at most 100", "body", "headers")
	// Replacing one in another case does not count twice.
	b.must(t, 204, "PATCH", path, map[string]any{"headers": map[string]string{"x-h0": "w"}})

	// Reserved names are refused in any case.
	for _, name := range []string{"CONTENT-TYPE", "content-length", "hOsT", "USER-AGENT", "wEbHoOk-Id", "SVIX-ID", "X-SVIX-X", "x-HERALD-x", "TRANSFER-encoding"} {
		for _, method := range []string{"PUT", "PATCH"} {
			wantValidationMsg(t, b.do(t, method, path, map[string]any{"headers": map[string]string{name: "v"}}), "forbidden", "body", "headers", name)
		}
	}
	wantValidation(t, b.do(t, "PUT", path, `{"headers": []}`), "body", "headers")
	wantValidation(t, b.do(t, "PATCH", path, `{"headers": {"X-A": ["x"]}}`), "body", "headers")
	if got := b.must(t, 200, "GET", path, nil)["headers"].(map[string]any); len(got) != maxHeaders || got["X-H0"] != "w" {
		t.Errorf("headers after refused requests: %d, X-H0 = %v", len(got), got["X-H0"])
	}
}
