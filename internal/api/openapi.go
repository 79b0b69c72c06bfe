package api

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes this API. It is derived from the Svix server's
// MIT-licensed document (openapi.LICENSE) with Herald's additive extensions;
// TestOpenAPIMatchesRoutes keeps its paths equal to the route table.
//
//go:embed openapi.json
var openAPIDocument []byte

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
	return nil
}
