package webhook_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/heraldhq/herald/webhook"
)

// exampleSecret stands for the endpoint secret a receiver gets from the
// sender, normally read from the environment or a secret store.
const exampleSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// signedRequest plays the sender in the examples.
func signedRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader([]byte(body)))
	signer := &webhook.Signer{Secrets: []webhook.Secret{webhook.MustParseSecret(exampleSecret)}}
	if err := signer.SetHeaders(r.Header, "msg_2Yx3", time.Now(), []byte(body)); err != nil {
		log.Fatal(err)
	}
	return r
}

// A receiver verifies the raw body in its handler before decoding it.
func ExampleVerifier_Verify() {
	verifier := webhook.NewVerifier(webhook.MustParseSecret(exampleSecret))

	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if err := verifier.Verify(r.Header, body); err != nil {
			http.Error(w, "invalid webhook", http.StatusUnauthorized)
			return
		}
		fmt.Printf("message %s: %s\n", r.Header.Get("webhook-id"), body)
	}

	handler(httptest.NewRecorder(), signedRequest(`{"type":"invoice.paid"}`))
	// Output: message msg_2Yx3: {"type":"invoice.paid"}
}

// The middleware verifies every request before the wrapped handler runs,
// which then reads the body as usual.
func ExampleVerifier_Middleware() {
	verifier := webhook.NewVerifier(webhook.MustParseSecret(exampleSecret))
	mux := http.NewServeMux()
	mux.Handle("POST /webhook", verifier.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("verified: %s\n", body)
	})))

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, signedRequest(`{"type":"invoice.paid"}`))

	forged := signedRequest(`{"type":"invoice.paid"}`)
	forged.Body = io.NopCloser(bytes.NewReader([]byte(`{"type":"invoice.refunded"}`)))
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, forged)
	fmt.Print(w.Code, " ", w.Body)
	// Output:
	// verified: {"type":"invoice.paid"}
	// 401 invalid webhook signature
}

// A Handler literal sets the body limit and drops retries of messages
// already handled.
func ExampleHandler() {
	handled := 0
	h := &webhook.Handler{
		Verifier:     webhook.NewVerifier(webhook.MustParseSecret(exampleSecret)),
		Next:         http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handled++ }),
		MaxBodyBytes: 256 << 10,
		Dedup:        true,
	}

	for range 3 { // The same message three times, as a sender's retries.
		h.ServeHTTP(httptest.NewRecorder(), signedRequest(`{"type":"invoice.paid"}`))
	}
	fmt.Println("handled", handled)
	// Output: handled 1
}

// A sender signs each attempt, with a fresh timestamp, and sets the
// headers on the request.
func ExampleSigner_SetHeaders() {
	secret, err := webhook.ParseSecret(exampleSecret)
	if err != nil {
		log.Fatal(err)
	}
	signer := &webhook.Signer{Secrets: []webhook.Secret{secret}}

	body := []byte(`{"test": 2432232314}`)
	req, err := http.NewRequest(http.MethodPost, "https://example.com/webhook", bytes.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	attempt := time.Unix(1614265330, 0) // time.Now() in real code.
	if err := signer.SetHeaders(req.Header, "msg_p5jXN8AQM9LWM0D4loKWxJek", attempt, body); err != nil {
		log.Fatal(err)
	}
	fmt.Println(req.Header.Get("webhook-id"))
	fmt.Println(req.Header.Get("webhook-timestamp"))
	fmt.Println(req.Header.Get("webhook-signature"))
	// Output:
	// msg_p5jXN8AQM9LWM0D4loKWxJek
	// 1614265330
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}

// During key rotation the sender signs with the old and the new key, so
// that receivers holding either accept the message.
func ExampleSignAll() {
	oldKey := webhook.MustParseSecret(exampleSecret)
	newKey := webhook.MustParseSecret("whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==")

	sig, err := webhook.SignAll([]webhook.Secret{oldKey, newKey}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sig)
	// Output: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==
}

// An ed25519 key pair: the sender keeps the whsk_ private key and gives
// receivers the whpk_ public key, which can verify but not sign.
func ExampleNewEd25519Secret() {
	private, public, err := webhook.NewEd25519Secret()
	if err != nil {
		log.Fatal(err)
	}
	signer := &webhook.Signer{Secrets: []webhook.Secret{webhook.MustParseSecret(private)}}
	verifier := webhook.NewVerifier(webhook.MustParseSecret(public))

	body := []byte(`{"type":"invoice.paid"}`)
	h := http.Header{}
	if err := signer.SetHeaders(h, "msg_2Yx3", time.Now(), body); err != nil {
		log.Fatal(err)
	}
	fmt.Println(verifier.Verify(h, body))
	fmt.Println(webhook.MustParseSecret(private)) // Secrets print redacted.
	// Output:
	// <nil>
	// whsk_…(redacted)
}
