package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/internal/store"
)

// Token prefixes: admin API tokens, app portal tokens, and the browser
// sessions of the portal and the console.
const (
	AdminTokenPrefix   = "hsk_"
	PortalTokenPrefix  = "hpt_"
	SessionTokenPrefix = "hss_"
)

// NewToken returns a new random token with prefix and the hash to store.
func NewToken(prefix string) (token string, hash []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("service: crypto/rand failed: " + err.Error())
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is the hash under which a token is stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateAdminToken makes a new admin API token called name, stores its hash,
// and returns it with its record.
func CreateAdminToken(ctx context.Context, s store.Store, name string, now time.Time) (string, *store.Token, error) {
	token, hash := NewToken(AdminTokenPrefix)
	t := &store.Token{ID: ids.New(ids.Token), Hash: hash, Name: name, CreatedAt: store.Truncate(now)}
	if err := s.CreateToken(ctx, t); err != nil {
		return "", nil, err
	}
	return token, t, nil
}

// CreatePortalToken makes an app portal token that reaches appID only and
// expires after ttl, stores its hash, and returns it.
func (s *Service) CreatePortalToken(ctx context.Context, appID string, ttl time.Duration) (string, error) {
	now := s.Now()
	token, hash := NewToken(PortalTokenPrefix)
	err := s.store.CreateToken(ctx, &store.Token{
		ID: ids.NewAt(ids.Token, now), Hash: hash, AppID: appID, Name: "app portal",
		ExpiresAt: now.Add(ttl), CreatedAt: now,
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// PortalURL is the link that opens the portal signed in with token, on the
// server reached at publicURL. The token is in the fragment, which browsers
// never send to servers.
func PortalURL(publicURL, token string) string {
	return strings.TrimRight(publicURL, "/") + "/portal/#token=" + token
}

// RevokeAPIToken revokes the admin API token with id. Servers stop
// accepting it within the API's token cache time (2 s).
func (s *Service) RevokeAPIToken(ctx context.Context, id string) error {
	return s.store.DeleteAPIToken(ctx, id)
}
