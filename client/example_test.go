package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/heraldhq/herald/client"
)

// A sender's backend creates an application for a customer once, then
// sends it messages.
func Example() {
	ctx := context.Background()
	c, err := client.New(serverURL, adminToken)
	if err != nil {
		log.Fatal(err)
	}
	app, err := c.GetOrCreateApp(ctx, client.AppIn{Name: "Acme Inc", UID: "acme"})
	if err != nil {
		log.Fatal(err)
	}
	msg, err := c.CreateMessage(ctx, app.UID, client.MessageIn{
		EventType: "invoice.paid",
		Payload:   json.RawMessage(`{"type":"invoice.paid","id":"in_1042","amount":4200}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg.EventType, string(msg.Payload))
	// Output: invoice.paid {"type":"invoice.paid","id":"in_1042","amount":4200}
}

// An endpoint is a customer's URL; its secret is what the customer's
// receiver verifies signatures with.
func ExampleClient_CreateEndpoint() {
	ctx := context.Background()
	c, err := client.New(serverURL, adminToken)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.GetOrCreateApp(ctx, client.AppIn{Name: "Globex", UID: "globex"}); err != nil {
		log.Fatal(err)
	}
	ep, err := c.CreateEndpoint(ctx, "globex", client.EndpointIn{
		URL:         "https://globex.example.com/webhooks",
		Description: "Production",
	})
	if err != nil {
		log.Fatal(err)
	}
	secret, err := c.GetEndpointSecret(ctx, "globex", ep.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ep.URL, strings.HasPrefix(secret.Key, "whsec_"))
	// Output: https://globex.example.com/webhooks true
}

// All walks every page of a list.
func ExampleAll() {
	ctx := context.Background()
	c, err := client.New(serverURL, adminToken)
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"order.created", "order.paid", "order.shipped"} {
		if _, err := c.UpdateEventType(ctx, name, client.EventTypeUpdate{Description: "An order event"}); err != nil {
			log.Fatal(err)
		}
	}
	pages := func(ctx context.Context, iterator string) (*client.ListResponse[client.EventType], error) {
		return c.ListEventTypes(ctx, &client.ListEventTypesOptions{ListOptions: client.ListOptions{Iterator: iterator, Limit: 2}})
	}
	for et, err := range client.All(ctx, pages) {
		if err != nil {
			log.Fatal(err)
		}
		if strings.HasPrefix(et.Name, "order.") {
			fmt.Println(et.Name)
		}
	}
	// Output:
	// order.created
	// order.paid
	// order.shipped
}

// API errors carry the status, the code and the detail.
func ExampleError() {
	ctx := context.Background()
	c, err := client.New(serverURL, adminToken)
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.GetApp(ctx, "no-such-app")
	var apiErr *client.Error
	if errors.As(err, &apiErr) && apiErr.Status == 404 {
		fmt.Println(apiErr.Code, "-", apiErr.Detail)
	}

	_, err = c.CreateEndpoint(ctx, "acme", client.EndpointIn{URL: "ftp://acme.example.com"})
	if errors.As(err, &apiErr) {
		for _, v := range apiErr.Validation {
			fmt.Println(apiErr.Status, v.Field()+":", v.Msg)
		}
	}
	// Output:
	// not_found - Entity not found
	// 422 url: URL scheme "ftp" is not supported; use https or http
}

// WithRawResponse gets the API's JSON as sent, to pass it on unchanged.
func ExampleWithRawResponse() {
	c, err := client.New(serverURL, adminToken)
	if err != nil {
		log.Fatal(err)
	}
	var raw []byte
	ctx := client.WithRawResponse(context.Background(), &raw)
	if _, err := c.GetOrCreateApp(ctx, client.AppIn{Name: "Initech", UID: "initech"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(json.Valid(raw), strings.Contains(string(raw), `"uid":"initech"`))
	// Output: true true
}
