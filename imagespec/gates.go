package imagespec

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxAge bounds min-age and follow-min-age: a year holds every image back
// for good, which is what ignore-tags "*" is for.
const MaxAge = 365 * 24 * time.Hour

// policyNamePattern is what a signature policy name may be: a DNS label.
var policyNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidPolicyName reports whether name may name a signature policy; the
// verify option and registries.conf signature-policies both ask here.
func ValidPolicyName(name string) bool { return policyNamePattern.MatchString(name) }

// appNamePattern is an Argo CD Application or namespace name (DNS-1123
// subdomain for names, label for namespaces; both kept to 253/63).
var (
	appNamePattern       = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
	namespaceNamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
)

// ParseAge reads a min-age: a Go duration ("36h", "90m") or whole days
// ("7d"); "0" turns the gate off.
func ParseAge(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, errors.New("not an age; write e.g. 24h, 90m or 7d")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		d, err = time.ParseDuration(v)
		if err != nil || d < 0 {
			return 0, errors.New("not an age; write e.g. 24h, 90m or 7d")
		}
	}
	if d > MaxAge {
		return 0, fmt.Errorf("at most %s (365d); to stop updates set ignore-tags \"*\"", MaxAge)
	}
	return d, nil
}

// ErrAppName is a follow value that names no Application.
var ErrAppName = errors.New("name an Application: <name> (in Argo CD's namespace) or <namespace>/<name>, lower-case letters, digits, '-' and '.'")

// ParseAppName reads a follow value: an Application name, optionally after
// its namespace and '/'. namespace is "" for the control-plane namespace.
// Anything else is ErrAppName.
func ParseAppName(v string) (namespace, name string, err error) {
	namespace, name, qualified := strings.Cut(v, "/")
	if !qualified {
		namespace, name = "", v
	}
	if strings.Contains(name, "/") || !appNamePattern.MatchString(name) || strings.Contains(name, "..") ||
		(qualified && !namespaceNamePattern.MatchString(namespace)) {
		return "", "", ErrAppName
	}
	return namespace, name, nil
}

// checkGateOptions refuses option combinations that cannot mean what they
// say.
func checkGateOptions(spec Spec, values map[string]string) []error {
	var errs []error
	bad := func(opt string, err error) {
		errs = append(errs, &OptionError{Alias: spec.Alias, Image: spec.Image, Option: opt, Value: values[opt], Err: err})
	}
	if _, ok := values[OptFollow]; ok {
		for _, opt := range []string{OptUpdateStrategy, OptAllowTags, OptOverrideTag, OptMinAge, OptMinAgeSource} {
			if _, set := values[opt]; set {
				bad(opt, fmt.Errorf("follow takes the version another Application runs; %s does not apply, drop it", opt))
			}
		}
		if spec.Constraint != "" {
			bad(OptFollow, fmt.Errorf("the image spec has constraint %q, but follow takes the version another Application runs; drop the constraint", spec.Constraint))
		}
	}
	if _, ok := values[OptMinAge]; ok && spec.Options.Strategy == StrategyDigest {
		bad(OptMinAge, errors.New("the digest strategy follows one tag and has no older version to render while a new digest waits; use newest-build (with allow-tags) to soak new builds"))
	}
	if _, ok := values[OptFollowMinAge]; ok {
		if _, follow := values[OptFollow]; !follow {
			bad(OptFollowMinAge, errors.New("follow-min-age needs follow: <app>"))
		}
	}
	return errs
}
