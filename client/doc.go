// Package client is a Go client of Herald's HTTP API, the Svix-compatible
// contract served under /api/v1 by `herald serve`. It uses only the standard
// library. (The official Svix SDKs work against Herald too; this package is
// smaller, and knows Herald's additions.)
//
// Create a Client with the server's base URL and an API token, then call
// its methods, one per API operation:
//
//	c, err := client.New("http://127.0.0.1:8071", os.Getenv("HERALD_TOKEN"))
//	if err != nil {
//		return err
//	}
//	msg, err := c.CreateMessage(ctx, "my-app", client.MessageIn{
//		EventType: "invoice.paid",
//		Payload:   json.RawMessage(`{"type":"invoice.paid","id":"in_123"}`),
//	})
//
// Applications, endpoints and messages are named by their id (app_...,
// ep_..., msg_...) or by the uid (or, for messages, the eventId) the caller
// gave them. Event types are named by their name.
//
// Every method takes a context, which bounds the request. A response with a
// status of 300 or more is returned as an *Error carrying the status, the
// API's error code and detail, and for 422 the list of problems; use
// errors.As to inspect it. Transport failures (connection refused, DNS,
// timeouts) are returned as they come from net/http, wrapped.
//
// List methods return one page, a *ListResponse; All walks every page.
package client
