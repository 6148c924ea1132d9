package resolve

import "sort"

// alphabeticalStrategy picks the lexically highest tag (byte order, so
// "2024-06-01" beats "2024-05-31" and "b" beats "a"; "9" beats "10", use
// numeric or semver for numbers).
type alphabeticalStrategy struct{}

func (alphabeticalStrategy) policy() string { return StrategyAlphabetical }

// Pick implements Strategy.
func (s alphabeticalStrategy) Pick(tags []string, meta Metadata) (string, []Candidate, error) {
	tag, vs, err := s.pick(tags, meta)
	return tag, candidates(vs), err
}

func (alphabeticalStrategy) pick(tags []string, _ Metadata) (string, []verdict, error) {
	tags = uniqueTags(tags)
	if len(tags) == 0 {
		return "", nil, ErrNoMatch
	}
	sort.Sort(sort.Reverse(sort.StringSlice(tags)))
	best := tags[0]
	out := make([]verdict, 0, len(tags))
	out = append(out, verdict{Candidate: Candidate{Tag: best, Accepted: true, Reason: "lexically highest tag"}})
	for _, tag := range tags[1:] {
		out = append(out, reject(tag, "sorts before the chosen tag", "sorts before "+best))
	}
	return best, out, nil
}
