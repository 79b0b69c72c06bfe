package api

import (
	"net/http"
	"strconv"
	"strings"
)

// legacyClient reports whether r comes from a Svix Go SDK older than 1.45.
// Those SDKs decode responses strictly (an unknown field is an error) and
// know the older field names: rateLimit instead of throttleRate, filterTypes
// instead of eventTypes, a required endpoint version, and no statusText,
// canceled or updatedAt on some models. Herald answers them in that shape so
// that they work unmodified; every other client gets the reference shape
// (plus the older names as additive fields, as the Svix server does).
func legacyClient(r *http.Request) bool {
	ua := r.Header.Get("User-Agent")
	rest, ok := strings.CutPrefix(ua, "svix-libs/")
	if !ok {
		return false
	}
	version, lang, ok := strings.Cut(rest, "/")
	if !ok || !strings.HasPrefix(lang, "go") {
		return false
	}
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major < 1 || major == 1 && minor < 45
}
