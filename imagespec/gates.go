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

// policyNamePattern is what a signature policy name may be (registries.conf
// checks the same rule when it defines one).
var policyNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// PolicyNamePattern is the rule for signature policy names, for
// registries.conf.
func PolicyNamePattern() *regexp.Regexp { return policyNamePattern }

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

// SplitAppName splits a follow value into namespace ("" for the
// control-plane namespace) and name.
func SplitAppName(v string) (namespace, name string) {
	if ns, n, ok := strings.Cut(v, "/"); ok {
		return ns, n
	}
	return "", v
}

// checkAppName checks a follow value: an Application name, optionally
// after its namespace and '/'.
func checkAppName(v string) error {
	ns, name := SplitAppName(v)
	if strings.Contains(name, "/") || !appNamePattern.MatchString(name) || (strings.Contains(v, "/") && !namespaceNamePattern.MatchString(ns)) {
		return errors.New("name an Application: <name> (in Argo CD's namespace) or <namespace>/<name>, lower-case letters, digits, '-' and '.'")
	}
	return nil
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
	if _, ok := values[OptFollowMinAge]; ok {
		if _, follow := values[OptFollow]; !follow {
			bad(OptFollowMinAge, errors.New("follow-min-age needs follow: <app>"))
		}
	}
	return errs
}
