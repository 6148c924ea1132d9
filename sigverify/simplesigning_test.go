package sigverify

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSimpleSigning(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, payload, want string
	}{
		{"valid", `{"critical":{"identity":{"docker-reference":"ghcr.io/acme/web"},"image":{"docker-manifest-digest":"` + digest + `"},"type":"cosign container image signature"},"optional":{"k":"v"}}`, ""},
		{"not JSON", `nope`, "is not valid JSON"},
		{"trailing data", `{"critical":{"image":{"docker-manifest-digest":"` + digest + `"},"type":"cosign container image signature"}} {}`, "has data after"},
		{"wrong type", `{"critical":{"image":{"docker-manifest-digest":"` + digest + `"},"type":"atomic container signature"}}`, "is not of type"},
		{"no digest", `{"critical":{"type":"cosign container image signature"}}`, "does not name an image digest"},
		{"bad digest", `{"critical":{"image":{"docker-manifest-digest":"sha256:xyz"},"type":"cosign container image signature"}}`, "does not name an image digest"},
		{"sha512 digest", `{"critical":{"image":{"docker-manifest-digest":"sha512:` + strings.Repeat("ab", 64) + `"},"type":"cosign container image signature"}}`, "does not name an image digest"},
		{"too large", `{"critical":{"type":"` + strings.Repeat("x", maxBlobSize) + `"}}`, "is too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseSimpleSigning([]byte(tc.payload))
			if tc.want == "" {
				if err != nil || h.String() != digest {
					t.Fatalf("= %v, %v", h, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzParseSimpleSigning: any payload parses or fails with our words; a
// parsed digest is a sha256 digest the payload contains; the error never
// repeats the payload.
func FuzzParseSimpleSigning(f *testing.F) {
	digest := "sha256:" + strings.Repeat("0f", 32)
	f.Add(`{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"` + digest + `"},"type":"cosign container image signature"},"optional":null}`)
	f.Add(`{"critical":{"image":{"docker-manifest-digest":"sha256:"},"type":"cosign container image signature"}}`)
	f.Add(`{"critical":null}`)
	f.Add(`[]`)
	f.Add(`{"critical":{"type":"cosign container image signature","type":"x"}}`)
	f.Fuzz(func(t *testing.T, payload string) {
		h, err := parseSimpleSigning([]byte(payload))
		if err != nil {
			var pe *payloadError
			if !errors.As(err, &pe) {
				t.Fatalf("error of type %T", err)
			}
			if len(payload) > 8 && strings.Contains(err.Error(), payload) {
				t.Fatalf("error %q repeats the payload", err)
			}
			return
		}
		if h.Algorithm != "sha256" || len(h.Hex) != 64 || !strings.Contains(payload, h.Hex) {
			t.Fatalf("digest %v from %q", h, payload)
		}
	})
}
