package domain

import (
	"fmt"
	"slices"
)

// Shortfall is what a request still needs: Need more approvals for its
// requirement named Requirement ("" for the overall MinApprovals).
type Shortfall struct {
	Requirement string `json:"requirement"`
	Need        int    `json:"need"`
}

// approvers are the members who approved the current revision, each once,
// in the order they did.
func (cr *ChangeRequest) approvers() []string {
	var out []string
	for _, r := range cr.Approvals() {
		if !slices.Contains(out, r.Reviewer) {
			out = append(out, r.Reviewer)
		}
	}
	return out
}

// overallNeed is the overall quorum: MinApprovals, and at least one
// approval when no requirement stands instead of it.
func (p *Policy) overallNeed() int {
	if p.MinApprovals < 1 && len(p.Requirements) == 0 {
		return 1
	}
	return p.MinApprovals
}

// Shortfalls are what the current revision's approvals leave missing:
// the overall quorum first (Requirement ""), then each requirement in
// policy order. Without DistinctReviewers one approval counts for every
// requirement its reviewer is a member of; with it, each reviewer fills
// one requirement slot at most, matched so that as many slots as possible
// are filled (earlier requirements first on a tie).
func (cr *ChangeRequest) Shortfalls() []Shortfall {
	approvers := cr.approvers()
	var out []Shortfall
	if need := cr.Policy.overallNeed() - len(approvers); need > 0 {
		out = append(out, Shortfall{Need: need})
	}
	reqs := cr.Policy.Requirements
	filled := make([]int, len(reqs))
	if cr.Policy.DistinctReviewers {
		filled = matchSlots(reqs, approvers)
	} else {
		for i, r := range reqs {
			for _, a := range approvers {
				if slices.Contains(r.Members, a) {
					filled[i]++
				}
			}
		}
	}
	for i, r := range reqs {
		if need := r.Min - filled[i]; need > 0 {
			out = append(out, Shortfall{Requirement: r.Name, Need: need})
		}
	}
	return out
}

// QuorumMet reports whether nothing is missing.
func (cr *ChangeRequest) QuorumMet() bool { return len(cr.Shortfalls()) == 0 }

// teamShort reports whether a requirement (not the overall quorum) is
// missing approvals: what auto-approval never stands in for.
func (cr *ChangeRequest) teamShort() bool {
	return slices.ContainsFunc(cr.Shortfalls(), func(s Shortfall) bool { return s.Requirement != "" })
}

// matchSlots is a maximum bipartite matching of approvers to requirement
// slots (Min slots per requirement), by Kuhn's augmenting paths: each
// approver fills one slot at most, and only of a requirement they are a
// member of. Slots are tried in policy order, and a matched slot stays
// matched, so earlier requirements win ties. It returns the filled slots
// per requirement.
func matchSlots(reqs []Requirement, approvers []string) []int {
	var slots []int // slot → its requirement
	for i, r := range reqs {
		for range r.Min {
			slots = append(slots, i)
		}
	}
	holder := make([]int, len(approvers)) // approver → the slot they fill, -1 for none
	for i := range holder {
		holder[i] = -1
	}
	var try func(slot int, seen []bool) bool
	try = func(slot int, seen []bool) bool {
		for a, who := range approvers {
			if seen[a] || !slices.Contains(reqs[slots[slot]].Members, who) {
				continue
			}
			seen[a] = true
			if holder[a] < 0 || try(holder[a], seen) {
				holder[a] = slot
				return true
			}
		}
		return false
	}
	filled := make([]int, len(reqs))
	for slot := range slots {
		if try(slot, make([]bool, len(approvers))) {
			filled[slots[slot]]++
		}
	}
	return filled
}

// ReviewsAfterApproval reports whether reviews are still taken once the
// request is approved: the quorum is more than one approval overall or
// from some requirement. With one approval needed the first review
// decides.
func (p *Policy) ReviewsAfterApproval() bool {
	return p.MinApprovals > 1 || slices.ContainsFunc(p.Requirements, func(r Requirement) bool { return r.Min > 1 })
}

// MayReviewFor reports whether member counts for one of the policy's
// requirements.
func (p *Policy) MayReviewFor(member string) bool {
	return slices.ContainsFunc(p.Requirements, func(r Requirement) bool { return slices.Contains(r.Members, member) })
}

// Missing says what the request still needs, for people: "needs 1 more
// approval", "needs 1 more from sre", "needs 1 more from the maintainers
// of payment-v2". A requirement nobody left can supply (its members are
// the requester, or reviewed this revision already) says so: "nobody
// else in sre can approve". Nothing when the quorum is met or the
// request is not waiting for reviews.
func (cr *ChangeRequest) Missing() []string {
	if cr.Status != StatusPending {
		return nil
	}
	out := []string{}
	beyond := cr.ShortBeyondRequirements()
	for _, sf := range cr.Shortfalls() {
		if sf.Requirement == "" {
			if beyond { // else the requirements' approvals make up the count
				out = append(out, fmt.Sprintf("needs %d more %s", sf.Need, plural(sf.Need, "approval", "approvals")))
			}
			continue
		}
		i := slices.IndexFunc(cr.Policy.Requirements, func(r Requirement) bool { return r.Name == sf.Requirement })
		r := cr.Policy.Requirements[i]
		from := r.Name
		if r.Team == "" {
			from = "the " + r.Name
		}
		line := fmt.Sprintf("needs %d more from %s", sf.Need, from)
		if !cr.canSupply(r) {
			line += fmt.Sprintf("; nobody else in %s can approve", from)
		}
		out = append(out, line)
	}
	return out
}

// canSupply reports whether some member of r could still approve the
// current revision: not the requester (unless self-approval is allowed),
// and not one who reviewed it already.
func (cr *ChangeRequest) canSupply(r Requirement) bool {
	for _, m := range r.Members {
		own := m == cr.RequesterMember || m == cr.RevisionBy || m == cr.RequesterBehind
		if (own && !cr.Policy.AllowSelfApproval) || cr.ReviewedBy(m) {
			continue
		}
		return true
	}
	return false
}

// Suppliers are the members who can supply a requirement the request is
// short of (not the requester, not those who reviewed already): who the
// notifications go to.
func (cr *ChangeRequest) Suppliers() []string {
	var out []string
	for _, sf := range cr.Shortfalls() {
		if sf.Requirement == "" {
			continue
		}
		i := slices.IndexFunc(cr.Policy.Requirements, func(r Requirement) bool { return r.Name == sf.Requirement })
		for _, m := range cr.Policy.Requirements[i].Members {
			if m != cr.RequesterMember && !cr.ReviewedBy(m) && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// ShortBeyondRequirements reports whether the overall quorum needs more
// approvals than meeting the requirements it is short of surely brings
// (the largest of their needs, as one reviewer may count for all; their
// sum with distinct reviewers): then anyone who may review can help, not
// only the requirements' members.
func (cr *ChangeRequest) ShortBeyondRequirements() bool {
	overall, reqs := 0, 0
	for _, sf := range cr.Shortfalls() {
		switch {
		case sf.Requirement == "":
			overall = sf.Need
		case cr.Policy.DistinctReviewers:
			reqs += sf.Need
		default:
			reqs = max(reqs, sf.Need)
		}
	}
	return overall > reqs
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
