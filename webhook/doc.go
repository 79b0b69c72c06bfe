// Package webhook signs and verifies webhooks as the Standard Webhooks
// specification defines them, the scheme Svix also uses: signature version
// v1 (HMAC-SHA256 with a whsec_ secret) and v1a (ed25519 with a whsk_
// private key and a whpk_ public key). It uses only the standard library.
//
// Every message carries three headers: webhook-id, the message id, which is
// the same on every retry and serves as the receiver's idempotency key;
// webhook-timestamp, the unix seconds of the attempt; and
// webhook-signature, a space-separated list of "<version>,<base64>"
// entries, one per active key. What is signed is the message id, a dot, the
// timestamp, a dot and the raw body, byte for byte as sent.
//
// # Receiving
//
// A receiver verifies the raw body before decoding it:
//
//	secret := webhook.MustParseSecret(os.Getenv("WEBHOOK_SECRET")) // whsec_...
//	verifier := webhook.NewVerifier(secret)
//	http.HandleFunc("POST /webhook", func(w http.ResponseWriter, r *http.Request) {
//		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
//		if err != nil || verifier.Verify(r.Header, body) != nil {
//			http.Error(w, "invalid webhook", http.StatusUnauthorized)
//			return
//		}
//		// body is authentic: decode it, using r.Header.Get("webhook-id") to
//		// ignore messages already handled.
//	})
//
// Verifier.Middleware and Handler do the same for any http.Handler, with a
// body limit and optional de-duplication by message id. Verification
// accepts a message when any one signature entry matches any one of the
// verifier's secrets, skips entries whose version it does not know, and
// rejects timestamps more than five minutes (Verifier.Tolerance) from its
// clock (Verifier.Now). The errors it returns can be told apart with
// errors.Is and never contain signatures or keys.
//
// # Sending
//
// A sender parses its secrets once and signs each attempt:
//
//	signer := &webhook.Signer{Secrets: secrets}
//	if err := signer.SetHeaders(req.Header, msgID, time.Now(), body); err != nil {
//		return err
//	}
//
// Sign and SignAll return the signature header value alone. NewHMACSecret
// and NewEd25519Secret make new keys.
package webhook
