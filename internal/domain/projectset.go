package domain

import "slices"

// ProjectSet is the set of projects a caller may read, for lists across
// projects: every project but Except (a caller whose organisation role
// reads; what belongs to no project included), or only Only (a caller
// with no organisation role, or a token limited to projects; what belongs
// to no project excluded). The zero value is every project.
type ProjectSet struct {
	Only   []string // when not nil, these projects alone
	Except []string
}

// All reports whether s is every project.
func (s ProjectSet) All() bool { return s.Only == nil && len(s.Except) == 0 }

// Has reports whether s holds project ("" is what belongs to no project).
func (s ProjectSet) Has(project string) bool {
	if s.Only != nil {
		return project != "" && slices.Contains(s.Only, project)
	}
	return !slices.Contains(s.Except, project)
}
