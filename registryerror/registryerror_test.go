package registryerror

import (
	"reflect"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestCodes(t *testing.T) {
	for _, c := range []struct {
		raw, want []string
	}{
		{nil, nil},
		{[]string{"DENIED", "DENIED", "NAME_UNKNOWN"}, []string{"DENIED", "NAME_UNKNOWN"}},
		{[]string{"<script>", "denied", "A", "TOOMANYREQUESTS"}, []string{"TOOMANYREQUESTS"}},
		{[]string{"A_A", "B_B", "C_C", "D_D", "E_E"}, []string{"A_A", "B_B", "C_C", "D_D"}},
	} {
		if got := Codes(c.raw); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Codes(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
}

func TestFromTransport(t *testing.T) {
	te := &transport.Error{StatusCode: 403, Errors: []transport.Diagnostic{{Code: "DENIED", Message: "secret text"}, {Code: "bad code"}}}
	if got := FromTransport(te); got != "HTTP 403 DENIED" {
		t.Errorf("FromTransport = %q", got)
	}
	if got := Status(502, nil); got != "HTTP 502" {
		t.Errorf("Status = %q", got)
	}
}
