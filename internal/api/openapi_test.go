package api

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes keeps the OpenAPI document served at
// /api/v1/openapi.json equal to the route table, both ways, with the same
// operationIds.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(openAPIDocument) {
		t.Fatal("the embedded document differs from openapi.json")
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parse openapi.json: %v", err)
	}
	type op struct{ method, path string }
	documented := map[op]string{} // operation -> operationId
	for path, item := range doc.Paths {
		for method, raw := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
			default:
				continue // parameters, summary, ...
			}
			var o struct {
				OperationID string `json:"operationId"`
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			documented[op{strings.ToUpper(method), path}] = o.OperationID
		}
	}

	routed := map[op]route{}
	for _, rt := range routes {
		k := op{rt.Method, rt.Pattern}
		if _, dup := routed[k]; dup {
			t.Errorf("route %s %s is in the table twice", rt.Method, rt.Pattern)
		}
		routed[k] = rt
		id, ok := documented[k]
		switch {
		case !ok:
			t.Errorf("route %s %s (%s) is not in openapi.json", rt.Method, rt.Pattern, rt.Op)
		case id != rt.Op:
			t.Errorf("route %s %s: Op %q, but openapi.json's operationId is %q", rt.Method, rt.Pattern, rt.Op, id)
		}
	}
	// operationIds are unique (OpenAPI requires it; client generators
	// name methods after them).
	seen := map[string]op{}
	for k, id := range documented {
		if id == "" {
			continue
		}
		if prev, dup := seen[id]; dup {
			t.Errorf("operationId %q is used by %s %s and %s %s", id, prev.method, prev.path, k.method, k.path)
		}
		seen[id] = k
	}

	var missing []string
	for k := range documented {
		if _, ok := routed[k]; ok {
			continue
		}
		// http.ServeMux serves HEAD with the GET handler.
		if k.method == "HEAD" {
			if _, ok := routed[op{"GET", k.path}]; ok {
				continue
			}
		}
		missing = append(missing, k.method+" "+k.path)
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("openapi.json documents %s, which is not routed", m)
	}
}
