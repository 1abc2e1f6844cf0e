package domain_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// nested is a value n arrays and objects deep, alternating, around a string
// full of brackets (which do not count).
func nested(n int) json.RawMessage {
	var b strings.Builder
	for i := range n {
		if i%2 == 0 {
			b.WriteString(`[1,`)
		} else {
			b.WriteString(`{"k\"[{":`)
		}
	}
	b.WriteString(`"[[{{\"]]"`)
	for i := n - 1; i >= 0; i-- {
		if i%2 == 0 {
			b.WriteString(`]`)
		} else {
			b.WriteString(`}`)
		}
	}
	return json.RawMessage(b.String())
}

// depthOf is how deeply a JSON document nests, by a decoder's tokens.
func depthOf(t testing.TB, doc []byte) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			deepest = max(deepest, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}

func depthFlag(values ...json.RawMessage) *domain.Flag {
	f := &domain.Flag{Project: "p", Key: "f", Name: "F", Tags: []string{}, BucketingUnit: "user_id", BucketingSalt: "salty",
		EvaluationMode: domain.EvaluationRemote}
	for i, v := range values {
		f.Variants = append(f.Variants, domain.Variant{Key: fmt.Sprintf("v%d", i), Value: v})
	}
	return f
}

// A variant value nested deeper than MaxVariantValueDepth is refused,
// naming the value; the bound keeps a stored flag, and the deepest body that
// carries one (a JSON Patch replacing a change request's proposal), within
// MaxJSONDepth. Brackets in strings and escaped quotes do not count.
func TestVariantValueDepth(t *testing.T) {
	for _, v := range []string{`1`, `"[[[["`, `[]`, `{}`, `{"a":[{"b":"]]]\\\"[[["}]}`, string(nested(domain.MaxVariantValueDepth))} {
		if err := depthFlag(json.RawMessage(`true`), json.RawMessage(v)).Validate(); err != nil {
			t.Errorf("value %.60s: %v", v, err)
		}
	}
	deepest := nested(domain.MaxVariantValueDepth)
	if got := depthOf(t, deepest); got != domain.MaxVariantValueDepth {
		t.Fatalf("the test's value is %d deep, want %d", got, domain.MaxVariantValueDepth)
	}
	f := depthFlag(json.RawMessage(`true`), deepest)
	doc, _ := json.Marshal(f)
	patch, _ := json.Marshal([]any{map[string]any{"op": "replace", "path": "", "value": map[string]any{"title": "t", "proposed_flag": f}}})
	if d, p := depthOf(t, doc), depthOf(t, patch); d > domain.MaxJSONDepth || p != domain.MaxJSONDepth {
		t.Fatalf("with the deepest value allowed the flag is %d deep and a patch carrying it %d (bound %d)", d, p, domain.MaxJSONDepth)
	}

	for _, tooDeep := range []json.RawMessage{nested(domain.MaxVariantValueDepth + 1), nested(9000),
		json.RawMessage(strings.Repeat(`[`, domain.MaxVariantValueDepth+1) + strings.Repeat(`]`, domain.MaxVariantValueDepth+1))} {
		err := depthFlag(json.RawMessage(`true`), json.RawMessage(`"x"`), tooDeep).Validate()
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.CodeInvalid || len(de.Fields) != 1 || de.Fields[0].Pointer != "/variants/2/value" ||
			!strings.Contains(de.Fields[0].Detail, fmt.Sprint(domain.MaxVariantValueDepth)) {
			t.Fatalf("a value %d deep: %#v", depthOf(t, tooDeep), err)
		}
	}
}

// A member gets at most MaxMentionMailsPerHour mention mails per request in
// any rolling hour; a mention over it is in the timeline, not mailed, and
// counts for nothing; comments stamped later (a clock set back) count.
func TestMentionMailCap(t *testing.T) {
	cr := newCR(domain.Policy{MinApprovals: 1})
	at := now
	comment := func(a domain.Actor, mentions ...string) domain.TimelineEvent {
		t.Helper()
		if _, err := cr.AddComment(a, "hey", mentions, at); err != nil {
			t.Fatal(err)
		}
		return cr.Timeline[len(cr.Timeline)-1]
	}
	for range domain.MaxMentionMailsPerHour {
		if e := comment(alice, "bob"); len(e.MentionsNotMailed) != 0 {
			t.Fatalf("within the cap: %+v", e)
		}
		at = at.Add(20 * time.Minute)
	}
	// an hour after the first: its mail no longer counts (at = now+60m)
	if e := comment(req, "bob", "carol"); len(e.MentionsNotMailed) != 0 {
		t.Fatalf("an hour after the first: %+v", e)
	}
	at = at.Add(time.Minute)
	if e := comment(req, "carol", "bob"); fmt.Sprint(e.MentionsNotMailed) != "[bob]" || fmt.Sprint(e.Mentions) != "[carol bob]" {
		t.Fatalf("over the cap: %+v", e)
	}
	// the unmailed mention does not count: within the hour before
	// now+80m1s are the mails at +40m and +60m and the unmailed one at +61m
	at = now.Add(80*time.Minute + time.Second)
	if !cr.MayMailMention("bob", at) {
		t.Fatal("two mails within the hour, yet no third: the unmailed mention counted")
	}
	// a clock set back: comments stamped after now still count
	if cr.MayMailMention("bob", now.Add(-time.Hour)) {
		t.Fatal("comments stamped later than now were ignored")
	}
	if !cr.MayMailMention("dave", at) {
		t.Fatal("a member never mentioned")
	}
}

// Flag.Validate runs on every flag write, inside the store's transaction:
// the depth check must stay a small part of it.
//
//	go test -run '^$' -bench VariantDepth ./internal/domain/
func BenchmarkVariantDepth(b *testing.B) {
	big := func(n int) json.RawMessage { // an object of n short members, about 30 bytes each
		var s strings.Builder
		s.WriteString(`{`)
		for i := range n {
			if i > 0 {
				s.WriteString(`,`)
			}
			fmt.Fprintf(&s, `"key%d":{"label":"v\"%d","on":[true]}`, i, i)
		}
		s.WriteString(`}`)
		return json.RawMessage(s.String())
	}
	for _, c := range []struct {
		name string
		f    *domain.Flag
	}{
		{"boolean flag", depthFlag(json.RawMessage(`true`), json.RawMessage(`false`))},
		{"10 variants of 1 KiB", depthFlag(func() []json.RawMessage {
			var vs []json.RawMessage
			for range 10 {
				vs = append(vs, big(32))
			}
			return vs
		}()...)},
		{"one 200 KiB value", depthFlag(big(6000))},
		{"the deepest value allowed", depthFlag(nested(domain.MaxVariantValueDepth))},
	} {
		if err := c.f.Validate(); err != nil {
			b.Fatal(err)
		}
		size := 0
		for _, v := range c.f.Variants {
			size += len(v.Value)
		}
		b.Run("Validate/"+c.name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				_ = c.f.Validate()
			}
		})
		b.Run("json.Valid only/"+c.name, func(b *testing.B) { // what Validate checked of the values before the bound
			b.SetBytes(int64(size))
			for b.Loop() {
				for _, v := range c.f.Variants {
					_ = json.Valid(v.Value)
				}
			}
		})
	}
}
