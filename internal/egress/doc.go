// Package egress is the one outbound HTTP client Herald uses to POST webhooks.
//
// A [Client] is built once per process with [New] and shared by every
// delivery. It never follows redirects (a 3xx is a failed attempt), never uses
// an environment proxy, bounds every request by a timeout, keeps only the first
// [Config.MaxResponseBytes] bytes of a response body, and reuses connections.
//
// # SSRF guard
//
// Webhook URLs are chosen by Herald's users, so by default the client refuses
// to connect to addresses that are not globally routable: loopback, RFC 1918,
// link-local (including the cloud metadata address 169.254.169.254), CGNAT,
// unique-local IPv6, multicast, reserved and documentation ranges, and IPv6
// forms that embed such an IPv4 address. The check runs in the dialer's
// Control hook on the address actually being dialled, after DNS resolution, so
// a name that resolves to a public address at validation time and to a private
// one at send time (DNS rebinding) is still refused. [CheckAddr] is the policy
// as a pure function; [Config.AllowCIDRs] is the operator's escape hatch, and a
// refusal is reported as a [*BlockedError] whose message names it.
//
// # Outcomes
//
// [Client.Send] reports what happened as a [Result]; [Classify] is the single
// place that decides whether a Result is a success, whether it is worth
// retrying, whether the receiver asked for the endpoint to be disabled (410
// Gone), and how long to wait at least before the next attempt.
package egress
