package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/service"
	"github.com/heraldhq/herald/internal/store"
)

// Token prefixes: admin tokens and app portal tokens.
const (
	AdminTokenPrefix  = service.AdminTokenPrefix
	PortalTokenPrefix = service.PortalTokenPrefix
)

// NewToken returns a new random token with prefix and the hash to store.
func NewToken(prefix string) (token string, hash []byte) { return service.NewToken(prefix) }

// HashToken is the hash under which a token is stored.
func HashToken(token string) []byte { return service.HashToken(token) }

// CreateAdminToken makes a new admin token, stores its hash, and returns it.
func CreateAdminToken(ctx context.Context, s store.Store, name string, now time.Time) (string, error) {
	token, _, err := service.CreateAdminToken(ctx, s, name, now)
	return token, err
}

type authKind int

const (
	authNone  authKind = iota // public
	authAdmin                 // admin tokens only
	authApp                   // admin tokens, or a portal token of the app in the path
	authRead                  // admin tokens, or any portal token (shared read-only data)
)

// principal is who made a request.
type principal = service.Caller

type principalKey struct{}

func withPrincipal(ctx context.Context, p *principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey{}).(*principal)
	if p == nil {
		return &principal{}
	}
	return p
}

const unauthorizedDetail = "Missing or invalid API token: send Authorization: Bearer <token> (herald serve prints the first admin token; `herald token create` makes more)"

// authenticate resolves the bearer token of r.
func (a *API) authenticate(r *http.Request) (*principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, errUnauthorized(unauthorizedDetail)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, errUnauthorized(unauthorizedDetail)
	}
	if a.AdminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(a.AdminToken)) == 1 {
		return &principal{TokenID: "config"}, nil
	}
	hash := HashToken(token)
	now := a.Now()
	if p, ok := a.tokens.Get([sha256.Size]byte(hash), now); ok {
		return p, nil
	}
	t, err := a.store.GetTokenByHash(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthorized(unauthorizedDetail)
	}
	if err != nil {
		return nil, err
	}
	if t.Session {
		// A browser session of the portal or the console is no API token.
		return nil, errUnauthorized(unauthorizedDetail)
	}
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return nil, errUnauthorized("API token expired")
	}
	p := &principal{TokenID: t.ID, AppID: t.AppID}
	expiry := now.Add(tokenCacheTTL)
	if !t.ExpiresAt.IsZero() && t.ExpiresAt.Before(expiry) {
		expiry = t.ExpiresAt
	}
	a.tokens.Put([sha256.Size]byte(hash), p, expiry)
	return p, nil
}

// tokenCacheTTL bounds how long another replica may still accept a token
// revoked elsewhere.
const tokenCacheTTL = 2 * time.Second
