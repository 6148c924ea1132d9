package sigverify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/argocd-image-resolver/argocd-image-resolver/registriesconf"
	"github.com/argocd-image-resolver/argocd-image-resolver/test/signtest"
)

// marker stands for content that must never be shown: a response body, a
// signature's bytes, a file's content.
const marker = "LEAKMARKER7f3a"

// TestNoContentInErrors: errors, reasons and logs never carry key
// material, file content, signature content or a registry's answer body.
func TestNoContentInErrors(t *testing.T) {
	var shown []string
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// Admin files whose content is wrong.
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, def := range []registriesconf.SignaturePolicy{
		{Name: "bad-pem", Kind: registriesconf.SignatureKindCosignKey, Key: write("bad.pub", "-----BEGIN PUBLIC KEY-----\n"+marker+"\n-----END PUBLIC KEY-----\n")},
		{Name: "not-pem", Kind: registriesconf.SignatureKindCosignKey, Key: write("not.pub", marker)},
		{Name: "bad-root", Kind: registriesconf.SignatureKindKeyless, Issuer: "i", Subject: "s", TrustedRoot: write("root.json", `{"mediaType": "`+marker+`", "tlogs": [`)},
		{Name: "bad-trust-policy", Kind: registriesconf.SignatureKindNotation, TrustPolicy: write("tp.json", `{"version": `+marker), TrustStore: dir},
		{Name: "missing", Kind: registriesconf.SignatureKindCosignKey, Key: filepath.Join(dir, "absent.pub")},
	} {
		_, err := New([]registriesconf.SignaturePolicy{def}, WithLogger(logger))
		if err == nil {
			t.Fatalf("policy %s loaded", def.Name)
		}
		if !strings.Contains(err.Error(), def.Name) {
			t.Errorf("error %q does not name policy %s", err, def.Name)
		}
		shown = append(shown, err.Error())
	}

	// Signatures whose content is wrong, and a registry answering errors.
	reg := newTestRegistry(t)
	key := signtest.NewKey(t)
	vs := signtest.NewSigstore(t)
	acme := signtest.NewNotationCA(t, "Acme")
	v := newVerifier(t, []Option{WithLogger(logger)}, key.Policy("ci-key"), vs.Policy("ci-keyless", testIssuer, testSubject), acme.Policy(t, "ci-notation", nil))
	verify := func(policy string, image name.Digest) {
		t.Helper()
		r, err := v.Verify(context.Background(), policy, image, remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1}))
		if err != nil {
			shown = append(shown, err.Error())
		}
		shown = append(shown, r.Reason, r.Signer)
	}
	for i, push := range []func(name.Digest){
		func(img name.Digest) {
			signtest.PushTag(t, img, signtest.TagSignature{Payload: []byte(marker), Annotations: map[string]string{annSignature: marker}})
		},
		func(img name.Digest) {
			signtest.PushTag(t, img, signtest.TagSignature{Payload: []byte(`{"critical":{"type":"` + marker + `"}}`), Annotations: map[string]string{annSignature: "AAAA"}})
		},
		func(img name.Digest) {
			payload := signtest.SimpleSigningPayload(img)
			s := key.SignPayload(t, payload)
			s.Annotations[annRekorBundle] = `{"Payload":{"body":"` + marker + `"}}`
			s.Annotations[annCertificate] = marker
			s.Annotations[annChain] = "-----BEGIN CERTIFICATE-----\n" + marker + "\n-----END CERTIFICATE-----\n"
			signtest.PushTag(t, img, s)
		},
		func(img name.Digest) {
			signtest.PushBundle(t, img, []byte(`{"mediaType": "`+marker+`", `))
		},
		func(img name.Digest) {
			signtest.PushBundle(t, img, []byte(`{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "`+marker+`": 1}`))
		},
		func(img name.Digest) {
			signtest.PushBundle(t, img, key.Bundle(t, signtest.Statement(img, marker)))
		},
		func(img name.Digest) {
			signtest.PushBundle(t, img, []byte(`{"mediaType": "`+marker+`"}`))
		},
		func(img name.Digest) {
			var b map[string]any
			if err := json.Unmarshal(key.Bundle(t, signtest.Statement(img, signtest.SignPredicate)), &b); err != nil {
				t.Fatal(err)
			}
			b["verificationMaterial"].(map[string]any)["tlogEntries"] = []any{map[string]any{
				"logIndex": "1", "logId": map[string]any{"keyId": "AAAA"},
				"kindVersion":       map[string]any{"kind": marker, "version": marker},
				"canonicalizedBody": base64.StdEncoding.EncodeToString([]byte(`{"kind":"` + marker + `"}`)),
			}}
			raw, _ := json.Marshal(b)
			signtest.PushBundle(t, img, raw)
		},
		func(img name.Digest) {
			header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + marker + `","cty":"application/vnd.cncf.notary.payload.v1+json"}`))
			jws := `{"protected":"` + header + `","payload":"e30","signature":"AAAA","header":{"x5c":["` + marker + `"]}}`
			signtest.PushNotation(t, img, []byte(jws))
		},
	} {
		image := reg.pushImage(t, "acme/leak"+string(rune('a'+i)))
		push(image)
		verify("ci-key", image)
		verify("ci-keyless", image)
		verify("ci-notation", image)
	}
	image := reg.pushImage(t, "acme/down")
	reg.fail(http.StatusInternalServerError, `{"errors":[{"code":"UNKNOWN","message":"`+marker+`","detail":"`+marker+`"}]}`)
	verify("ci-key", image)
	reg.fail(http.StatusUnauthorized, marker)
	verify("ci-keyless", image)
	reg.fail(0, "")

	keyBody := strings.Join(strings.Split(string(key.PublicKeyPEM()), "\n")[1:3], "")
	for _, s := range append(shown, logs.String()) {
		if strings.Contains(s, marker) {
			t.Errorf("content shown: %q", s)
		}
		if strings.Contains(strings.ReplaceAll(s, "\n", ""), keyBody[:40]) {
			t.Errorf("key material shown: %q", s)
		}
	}
	if !strings.Contains(strings.Join(shown, "\n"), "HTTP 500 UNKNOWN") {
		t.Errorf("the registry failure lost its status and code:\n%s", strings.Join(shown, "\n"))
	}
}
