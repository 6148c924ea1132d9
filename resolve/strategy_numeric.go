package resolve

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// numericStrategy picks the tag with the highest non-negative decimal value
// ("42", "1007", "3.5"); other tags are rejected as "not a number". Values
// are compared exactly, so build numbers of any length work. Numerically
// equal tags ("7", "07", "7.0") prefer the shortest spelling, then the
// lexically smallest.
type numericStrategy struct{}

var numberPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

func (numericStrategy) policy() string { return StrategyNumeric }

// Pick implements Strategy.
func (s numericStrategy) Pick(tags []string, meta Metadata) (string, []Candidate, error) {
	tag, vs, err := s.pick(tags, meta)
	return tag, candidates(vs), err
}

func (numericStrategy) pick(tags []string, _ Metadata) (string, []verdict, error) {
	var numbers []string
	var noise []verdict
	for _, tag := range uniqueTags(tags) {
		if !numberPattern.MatchString(tag) {
			noise = append(noise, reject(tag, "not a number", "not a number"))
			continue
		}
		numbers = append(numbers, tag)
	}
	sortVerdictsByTag(noise)
	if len(numbers) == 0 {
		return "", noise, ErrNoMatch
	}
	sort.Slice(numbers, func(i, j int) bool {
		if c := compareDecimal(numbers[i], numbers[j]); c != 0 {
			return c > 0
		}
		if len(numbers[i]) != len(numbers[j]) {
			return len(numbers[i]) < len(numbers[j])
		}
		return numbers[i] < numbers[j]
	})
	best := numbers[0]
	out := make([]verdict, 0, len(numbers)+len(noise))
	out = append(out, verdict{Candidate: Candidate{Tag: best, Accepted: true, Reason: "highest number"}})
	for _, n := range numbers[1:] {
		if compareDecimal(n, best) == 0 {
			out = append(out, reject(n, "same number as the chosen tag", fmt.Sprintf("same number as %s, which is preferred", best)))
			continue
		}
		out = append(out, reject(n, "lower than the chosen number", "lower than "+best))
	}
	return best, append(out, noise...), nil
}

// compareDecimal compares two strings matching numberPattern by value.
func compareDecimal(a, b string) int {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	ai, bi = strings.TrimLeft(ai, "0"), strings.TrimLeft(bi, "0")
	if len(ai) != len(bi) {
		if len(ai) > len(bi) {
			return 1
		}
		return -1
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	af, bf = strings.TrimRight(af, "0"), strings.TrimRight(bf, "0")
	return strings.Compare(af, bf)
}
