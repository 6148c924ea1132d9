// Package registryerror owns what of a registry's error answer may be
// shown to Application authors: its status and the error codes of the
// registry API's form, never the answer's text, which could come from any
// service an image, realm or redirect points at.
package registryerror

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// MaxCodes is how many distinct codes an error shows.
const MaxCodes = 4

// code is what the registry API allows as an error code (DENIED,
// NAME_UNKNOWN, ...).
var code = regexp.MustCompile(`^[A-Z][A-Z_]{1,39}$`)

// Codes keeps, in order, the distinct codes of raw that have the API's
// form, at most MaxCodes of them.
func Codes(raw []string) []string {
	var out []string
	for _, c := range raw {
		if len(out) < MaxCodes && code.MatchString(c) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// Status is "HTTP <status>" followed by the codes, comma-separated.
func Status(status int, codes []string) string {
	msg := fmt.Sprintf("HTTP %d", status)
	if len(codes) > 0 {
		msg += " " + strings.Join(codes, ", ")
	}
	return msg
}

// FromTransport is Status for an error answer as go-containerregistry
// reports it.
func FromTransport(te *transport.Error) string {
	raw := make([]string, len(te.Errors))
	for i, d := range te.Errors {
		raw[i] = string(d.Code)
	}
	return Status(te.StatusCode, Codes(raw))
}
