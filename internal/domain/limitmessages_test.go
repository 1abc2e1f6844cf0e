package domain_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// The refusals of limits are laid out by the compiler with their limits
// as literals (a fmt.Sprintf at package initialisation would run at every
// cold start): each names its limit's current value.
func TestLimitMessagesNameTheLimits(t *testing.T) {
	for _, c := range []struct {
		err   *domain.Error
		limit int
	}{
		{domain.ErrTooManyChanges, domain.MaxChanges},
		{domain.ErrTooManyComments, domain.MaxComments},
		{domain.ErrYourComments, domain.MaxCommentsPerMember},
		{domain.ErrCommentsTooLong, domain.MaxCommentBytes >> 10},
		{domain.ErrTooManyTeams, domain.MaxTeams},
	} {
		if !strings.Contains(c.err.Message, " "+strconv.Itoa(c.limit)+" ") {
			t.Errorf("%q does not name its limit, %d", c.err.Message, c.limit)
		}
	}
	if d := domain.ErrTooManyChanges.Fields[0].Detail; !strings.Contains(d, strconv.Itoa(domain.MaxChanges)) {
		t.Errorf("%q does not name %d", d, domain.MaxChanges)
	}
}
