package egress

import "encoding/json"

// policyJSON is a Policy as it crosses to a render worker: the rules as
// they were compiled (hosts already canonical), so the worker neither
// reads registries.conf nor parses the rules again.
type policyJSON struct {
	Restricted bool          `json:"restricted,omitempty"`
	Name       string        `json:"name,omitempty"`
	Patterns   []patternJSON `json:"patterns,omitempty"`
	APIHosts   []string      `json:"apiHosts,omitempty"`
}

type patternJSON struct {
	Raw     string `json:"raw"`
	Host    string `json:"host"`
	Path    string `json:"path,omitempty"`
	HasPath bool   `json:"hasPath,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (p *Policy) MarshalJSON() ([]byte, error) {
	if p == nil {
		return []byte("null"), nil
	}
	out := policyJSON{Restricted: p.restricted, Name: p.name, APIHosts: p.apiHosts}
	for _, pat := range p.patterns {
		out.Patterns = append(out.Patterns, patternJSON{Raw: pat.raw, Host: pat.host, Path: pat.path, HasPath: pat.hasPath})
	}
	return json.Marshal(out)
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *Policy) UnmarshalJSON(b []byte) error {
	var in policyJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*p = Policy{restricted: in.Restricted, name: in.Name, apiHosts: in.APIHosts}
	for _, pat := range in.Patterns {
		p.patterns = append(p.patterns, Pattern{raw: pat.Raw, host: pat.Host, path: pat.Path, hasPath: pat.HasPath})
	}
	return nil
}
