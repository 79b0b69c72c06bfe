package api

import (
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

// API tokens: a Herald extension (the Svix API has none), for the console
// and for automation. Only admin tokens reach them; a token's secret is
// returned once, when it is created.

type tokenOut struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

type tokenCreatedOut struct {
	tokenOut
	// Token is the secret, shown only in this response.
	Token string `json:"token"`
}

func tokenJSON(t *store.Token) tokenOut {
	return tokenOut{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt}
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	lq, err := parseList(r.URL.Query(), false, false, func(s string) bool { return ids.Valid(ids.Token, s) })
	if err != nil {
		return err
	}
	rows, err := a.store.ListAPITokens(r.Context(), lq.page())
	if err != nil {
		return err
	}
	return writeList(w, finish(lq, rows, func(t *store.Token) string { return t.ID }, tokenJSON))
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name Opt[string] `json:"name"`
	}
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	var v validator
	if name, ok := in.Name.Value(); ok {
		v.Text("name", name, 1, 256)
	} else {
		v.Body("name", "field required", "value_error.missing")
	}
	if err := v.Err(); err != nil {
		return err
	}
	token, t, err := service.CreateAdminToken(r.Context(), a.store, in.Name.V, a.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tokenCreatedOut{tokenOut: tokenJSON(t), Token: token})
	return nil
}

func (a *API) deleteToken(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("token_id")
	if err := a.svc.RevokeAPIToken(r.Context(), id); err != nil {
		return err
	}
	a.tokens.DropIf(func(c *principal) bool { return c.TokenID == id })
	w.WriteHeader(http.StatusNoContent)
	return nil
}
