package sesmail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/countersign/countersign/internal/setup/localaws"
)

// emulator returns the SES emulator's endpoint from COUNTERSIGN_SES_ENDPOINT.
// Without one the test fails when COUNTERSIGN_REQUIRE_SES=1 and is skipped
// otherwise.
func emulator(t *testing.T) string {
	t.Helper()
	endpoint := os.Getenv("COUNTERSIGN_SES_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("COUNTERSIGN_REQUIRE_SES") == "1" {
			t.Fatal("COUNTERSIGN_SES_ENDPOINT is not set but COUNTERSIGN_REQUIRE_SES=1: start the emulator with scripts/ses-local.sh start")
		}
		t.Skip("no SES emulator (COUNTERSIGN_SES_ENDPOINT unset); make test runs this, or: scripts/ses-local.sh start && COUNTERSIGN_SES_ENDPOINT=$(scripts/ses-local.sh endpoint) go test ./internal/notify/sesmail/")
	}
	return strings.TrimRight(endpoint, "/")
}

// recorder is an HTTP client that keeps every request it sends (with its
// body) before passing it on.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
	next     http.RoundTripper
}

type recorded struct {
	method, path, authorization string
	body                        []byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.requests = append(r.requests, recorded{req.Method, req.URL.Path, req.Header.Get("Authorization"), body})
	r.mu.Unlock()
	next := r.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(req)
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.requests...)
}

// recordingClient returns a copy of client whose requests rec records, with
// at most attempts tries per call (0 keeps the SDK's default).
func recordingClient(client *sesv2.Client, rec *recorder, attempts int) *sesv2.Client {
	opts := client.Options()
	opts.HTTPClient = rec
	opts.RetryMaxAttempts = attempts
	return sesv2.New(opts)
}

// storedEmail is one email as the emulator's GET /store returns it.
type storedEmail struct {
	MessageID   string   `json:"messageId"`
	From        string   `json:"from"`
	ReplyTo     []string `json:"replyTo"`
	Destination struct {
		To  []string `json:"to"`
		Cc  []string `json:"cc"`
		Bcc []string `json:"bcc"`
	} `json:"destination"`
	Subject string `json:"subject"`
	Body    struct {
		Text string `json:"text"`
		HTML string `json:"html"`
	} `json:"body"`
	At int64 `json:"at"`
}

// stored reads the email with messageID back from the emulator's store.
func stored(t *testing.T, endpoint, messageID string, since time.Time) storedEmail {
	t.Helper()
	url := fmt.Sprintf("%s/store?since=%d", endpoint, since.Unix()-1)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, %v: %s", url, resp.StatusCode, err, raw)
	}
	var store struct {
		Emails []storedEmail `json:"emails"`
	}
	if err := json.Unmarshal(raw, &store); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, raw)
	}
	for _, e := range store.Emails {
		if e.MessageID == messageID {
			return e
		}
	}
	t.Fatalf("message %s is not in the emulator's store (%d emails since %d)", messageID, len(store.Emails), since.Unix()-1)
	return storedEmail{}
}

const (
	approveURL = "https://example.test/a/approve?t=abc&x=1"
	rejectURL  = "https://example.test/a/reject?t=abc&x=1#why"
)

func reviewMessage() Message {
	return Message{
		From:    "Countersign <countersign@example.test>",
		To:      []string{"alice@example.test", "bob+reviews@example.test"},
		Subject: "Änderung „checkout-v2“ wartet — 承認待ち ✅",
		Text: "Carol asks to turn on checkout-v2 in prod.\n\n" +
			"Approve: " + approveURL + "\n" +
			"Reject:  " + rejectURL + "\n",
		HTML: `<p>Carol asks to turn on <b>checkout-v2</b> in prod — ünïcödé.</p>` +
			`<p><a href="https://example.test/a/approve?t=abc&amp;x=1">Approve</a> · ` +
			`<a href="https://example.test/a/reject?t=abc&amp;x=1#why">Reject</a></p>` +
			`<p>` + approveURL + `</p>`,
		ConfigurationSet: "countersign-notify",
		Tags:             map[string]string{"kind": "review-requested", "flag": "checkout-v2"},
	}
}

// TestSendToEmulator sends a review request through the emulator and reads
// it back from its store: recipients, subject and both parts arrive byte for
// byte; the request on the wire carries the configuration set, the tags and
// UTF-8 charsets (which the emulator does not keep).
func TestSendToEmulator(t *testing.T) {
	endpoint := emulator(t)
	ctx := context.Background()
	client, err := localaws.SES(ctx, endpoint, "")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	sender := New(recordingClient(client, rec, 0), "default@example.test", "countersign-default")

	m := reviewMessage()
	start := time.Now() // wall clock: the emulator stamps mail with it
	id, err := sender.Send(ctx, m)
	if err != nil {
		t.Fatalf("Send: %v (retryable %v)", err, Retryable(err))
	}
	if id == "" {
		t.Fatal("Send returned an empty message ID")
	}

	got := stored(t, endpoint, id, start)
	if got.From != m.From {
		t.Errorf("from = %q, want %q", got.From, m.From)
	}
	if !reflect.DeepEqual(got.Destination.To, m.To) {
		t.Errorf("to = %q, want %q", got.Destination.To, m.To)
	}
	if len(got.Destination.Cc)+len(got.Destination.Bcc)+len(got.ReplyTo) != 0 {
		t.Errorf("cc %q, bcc %q, reply-to %q: want none", got.Destination.Cc, got.Destination.Bcc, got.ReplyTo)
	}
	if got.Subject != m.Subject {
		t.Errorf("subject = %q, want %q", got.Subject, m.Subject)
	}
	if got.Body.Text != m.Text {
		t.Errorf("text part = %q, want %q", got.Body.Text, m.Text)
	}
	if got.Body.HTML != m.HTML {
		t.Errorf("HTML part = %q, want %q", got.Body.HTML, m.HTML)
	}
	for _, link := range []string{approveURL, rejectURL} {
		if !strings.Contains(got.Body.Text, link) {
			t.Errorf("text part lacks the link %s verbatim: %q", link, got.Body.Text)
		}
	}
	for _, link := range []string{
		`href="https://example.test/a/approve?t=abc&amp;x=1"`,
		`href="https://example.test/a/reject?t=abc&amp;x=1#why"`,
		approveURL,
	} {
		if !strings.Contains(got.Body.HTML, link) {
			t.Errorf("HTML part lacks %s verbatim: %q", link, got.Body.HTML)
		}
	}

	reqs := rec.all()
	if len(reqs) != 1 {
		t.Fatalf("%d requests sent, want 1", len(reqs))
	}
	req := reqs[0]
	if req.method != http.MethodPost || req.path != "/v2/email/outbound-emails" {
		t.Errorf("request %s %s, want POST /v2/email/outbound-emails", req.method, req.path)
	}
	if !strings.HasPrefix(req.authorization, "AWS4-HMAC-SHA256 Credential=") {
		t.Errorf("Authorization = %q, want a SigV4 signature", req.authorization)
	}
	var wire struct {
		FromEmailAddress     string
		ConfigurationSetName string
		Destination          struct{ ToAddresses []string }
		EmailTags            []struct{ Name, Value string }
		Content              struct {
			Simple struct {
				Subject struct{ Data, Charset string }
				Body    struct {
					Text, Html struct{ Data, Charset string }
				}
			}
		}
	}
	if err := json.Unmarshal(req.body, &wire); err != nil {
		t.Fatalf("request body: %v in %s", err, req.body)
	}
	if wire.ConfigurationSetName != "countersign-notify" {
		t.Errorf("ConfigurationSetName = %q, want the message's countersign-notify", wire.ConfigurationSetName)
	}
	wantTags := []struct{ Name, Value string }{{"flag", "checkout-v2"}, {"kind", "review-requested"}}
	if !reflect.DeepEqual(wire.EmailTags, wantTags) {
		t.Errorf("EmailTags = %+v, want %+v (sorted by name)", wire.EmailTags, wantTags)
	}
	if !reflect.DeepEqual(wire.Destination.ToAddresses, m.To) || wire.FromEmailAddress != m.From {
		t.Errorf("from %q to %q on the wire, want %q to %q", wire.FromEmailAddress, wire.Destination.ToAddresses, m.From, m.To)
	}
	simple := wire.Content.Simple
	for part, charset := range map[string]string{"Subject": simple.Subject.Charset, "Text": simple.Body.Text.Charset, "Html": simple.Body.Html.Charset} {
		if charset != "UTF-8" {
			t.Errorf("%s charset = %q, want UTF-8", part, charset)
		}
	}
	if simple.Subject.Data != m.Subject || simple.Body.Text.Data != m.Text || simple.Body.Html.Data != m.HTML {
		t.Errorf("content on the wire differs from the message: %s", req.body)
	}
}

// TestSendDefaults: a message without From or configuration set gets the
// Sender's; without either default there is no configuration set and no tags
// on the wire.
func TestSendDefaults(t *testing.T) {
	endpoint := emulator(t)
	ctx := context.Background()
	client, err := localaws.SES(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}

	rec := &recorder{}
	m := reviewMessage()
	m.From, m.ConfigurationSet, m.Tags = "", "", nil
	start := time.Now() // wall clock: the emulator stamps mail with it
	id, err := New(recordingClient(client, rec, 0), "Countersign <noreply@example.test>", "countersign-default").Send(ctx, m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := stored(t, endpoint, id, start); got.From != "Countersign <noreply@example.test>" {
		t.Errorf("from = %q, want the Sender's default", got.From)
	}
	var wire map[string]any
	if err := json.Unmarshal(rec.all()[0].body, &wire); err != nil {
		t.Fatal(err)
	}
	if wire["ConfigurationSetName"] != "countersign-default" {
		t.Errorf("ConfigurationSetName = %v, want the Sender's countersign-default", wire["ConfigurationSetName"])
	}
	if _, ok := wire["EmailTags"]; ok {
		t.Errorf("EmailTags sent for a message without tags: %v", wire["EmailTags"])
	}

	rec = &recorder{}
	if _, err := New(recordingClient(client, rec, 0), "noreply@example.test", "").Send(ctx, m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	wire = nil
	if err := json.Unmarshal(rec.all()[0].body, &wire); err != nil {
		t.Fatal(err)
	}
	if v, ok := wire["ConfigurationSetName"]; ok {
		t.Errorf("ConfigurationSetName = %v sent, want none", v)
	}
}

// TestEmulatorRejectionIsPermanent: a request the emulator refuses (no From
// address, which Send itself never lets through) comes back as a 4xx API
// error that Retryable calls permanent.
func TestEmulatorRejectionIsPermanent(t *testing.T) {
	endpoint := emulator(t)
	client, err := localaws.SES(context.Background(), endpoint, "")
	if err != nil {
		t.Fatal(err)
	}
	in := input(reviewMessage())
	in.FromEmailAddress = nil
	_, err = client.SendEmail(context.Background(), in)
	if err == nil {
		t.Fatal("the emulator accepted a message without a From address")
	}
	var resp *awshttp.ResponseError
	if !errors.As(err, &resp) || resp.HTTPStatusCode() != http.StatusBadRequest {
		t.Errorf("error %v: want an HTTP 400 response error", err)
	}
	if Retryable(err) {
		t.Errorf("Retryable(%v) = true, want false", err)
	}
}

// TestNetworkErrorIsRetryable: nothing listens on the endpoint.
func TestNetworkErrorIsRetryable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close()

	client, err := localaws.SES(context.Background(), endpoint, "")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	_, err = New(recordingClient(client, rec, 1), "noreply@example.test", "").Send(context.Background(), reviewMessage())
	if err == nil {
		t.Fatalf("Send to %s (closed) succeeded", endpoint)
	}
	if !Retryable(err) {
		t.Errorf("Retryable(%v) = false, want true", err)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// TestSESErrorsClassified answers SendEmail with SES's error responses (from
// a local test server) and checks what the SDK makes of them and how
// Retryable classifies the result.
func TestSESErrorsClassified(t *testing.T) {
	tests := []struct {
		status  int
		code    string // X-Amzn-ErrorType; empty for none
		message string // the error's message; "" for "test says <code>"
		class   Class
		as      func(error) bool // the sesv2 type the SDK should produce
	}{
		// the sandbox refusing a recipient: this recipient only
		{400, "MessageRejected", "Email address is not verified. The following identities failed the check in region EU-WEST-1: alice@example.test", Refused, as[*types.MessageRejected]},
		// the sender not verified: everyone, until someone verifies it
		{400, "MessageRejected", "Email address is not verified. The following identities failed the check in region EU-WEST-1: NoReply@Example.test, alice@example.test", Blocked, as[*types.MessageRejected]},
		{400, "MailFromDomainNotVerifiedException", "", Blocked, as[*types.MailFromDomainNotVerifiedException]},
		{400, "AccountSuspendedException", "", Blocked, as[*types.AccountSuspendedException]},
		{400, "SendingPausedException", "", Blocked, as[*types.SendingPausedException]},
		{400, "BadRequestException", "", Refused, as[*types.BadRequestException]},
		{404, "NotFoundException", "", Blocked, as[*types.NotFoundException]},
		{429, "TooManyRequestsException", "", Transient, as[*types.TooManyRequestsException]},
		{400, "LimitExceededException", "", Transient, as[*types.LimitExceededException]},
		{400, "Throttling", "", Transient, nil},
		{403, "AccessDeniedException", "", Blocked, nil},
		{403, "", "", Blocked, nil},
		{500, "InternalFailure", "", Transient, nil},
		{503, "", "", Transient, nil},
		{502, "", "", Transient, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s_%s", tt.status, tt.code, tt.class), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if tt.code != "" {
					w.Header().Set("X-Amzn-ErrorType", tt.code)
				}
				w.WriteHeader(tt.status)
				msg := tt.message
				if msg == "" {
					msg = "test says " + tt.code
				}
				_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
			}))
			defer srv.Close()
			client, err := localaws.SES(context.Background(), srv.URL, "")
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			m := reviewMessage()
			m.From = "Countersign <noreply@example.test>"
			_, err = New(recordingClient(client, rec, 1), "", "").Send(context.Background(), m)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if tt.as != nil && !tt.as(err) {
				t.Errorf("error %v (%T): not the expected sesv2 type", err, errors.Unwrap(err))
			}
			if got := Classify(err); got != tt.class {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tt.class)
			}
			var se *Error
			if !errors.As(err, &se) || se.Class != tt.class {
				t.Errorf("Send's error %T %+v: want an *Error of class %v", err, se, tt.class)
			}
			if got := Retryable(err); got != (tt.class == Transient) {
				t.Errorf("Retryable(%v) = %v, want %v", err, got, tt.class == Transient)
			}
		})
	}
}

func responseError(status int) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      errors.New("test"),
	}}
}

func opErr(err error) error {
	return fmt.Errorf("sesmail: send: %w", &smithy.OperationError{ServiceID: "SESv2", OperationName: "SendEmail", Err: err})
}

// TestClassify: SES's and the SDK's errors as Send wraps them, unwrapped
// (Classify reads the SDK's errors itself), and Retryable, which is
// Classify(err) == Transient.
func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, 0},
		{"invalid message", fmt.Errorf("%w: no recipient", ErrInvalidMessage), Refused},
		{"classified", fmt.Errorf("outer: %w", &Error{Class: Blocked, Err: errors.New("x")}), Blocked},
		{"MessageRejected", opErr(&types.MessageRejected{Message: aws.String("Email address is not verified.")}), Refused},
		{"MailFromDomainNotVerified", opErr(&types.MailFromDomainNotVerifiedException{}), Blocked},
		{"AccountSuspended", opErr(&types.AccountSuspendedException{}), Blocked},
		{"SendingPaused", opErr(&types.SendingPausedException{}), Blocked},
		{"BadRequest", opErr(&types.BadRequestException{}), Refused},
		{"NotFound", opErr(&types.NotFoundException{}), Blocked},
		{"TooManyRequests", opErr(&types.TooManyRequestsException{}), Transient},
		{"TooManyRequests after the SDK's retries", opErr(&retry.MaxAttemptsError{Attempt: 3, Err: &types.TooManyRequestsException{}}), Transient},
		{"LimitExceeded", opErr(&types.LimitExceededException{}), Transient},
		{"InternalServiceError", opErr(&types.InternalServiceErrorException{}), Transient},
		{"ConcurrentModification", opErr(&types.ConcurrentModificationException{}), Transient},
		{"generic Throttling", opErr(&smithy.GenericAPIError{Code: "Throttling", Fault: smithy.FaultClient}), Transient},
		{"generic server fault", opErr(&smithy.GenericAPIError{Code: "Whatever", Fault: smithy.FaultServer}), Transient},
		{"generic client fault", opErr(&smithy.GenericAPIError{Code: "AccessDenied", Fault: smithy.FaultClient}), Blocked},
		{"HTTP 500", opErr(responseError(500)), Transient},
		{"HTTP 503", opErr(responseError(503)), Transient},
		{"HTTP 429", opErr(responseError(429)), Transient},
		{"HTTP 400", opErr(responseError(400)), Blocked},
		{"HTTP 403", opErr(responseError(403)), Blocked},
		{"connection refused", opErr(&smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}), Transient},
		{"connection reset", opErr(&smithyhttp.RequestSendError{Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}), Transient},
		{"DNS not found", opErr(&net.DNSError{Err: "no such host", Name: "email.example", IsNotFound: true}), Blocked},
		{"deadline", opErr(&smithy.CanceledError{Err: context.DeadlineExceeded}), Transient},
		{"canceled", opErr(&smithy.CanceledError{Err: context.Canceled}), Blocked},
		{"unknown", errors.New("something else"), Blocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
			if got := Retryable(tt.err); got != (tt.want == Transient) {
				t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want == Transient)
			}
		})
	}
}

// failingHTTP fails the test if the SDK sends anything.
type failingHTTP struct{ t *testing.T }

func (f failingHTTP) Do(req *http.Request) (*http.Response, error) {
	f.t.Errorf("an invalid message reached SES: %s %s", req.Method, req.URL)
	return nil, errors.New("no request expected")
}

func TestValidation(t *testing.T) {
	client := sesv2.New(sesv2.Options{Region: "us-east-1", HTTPClient: failingHTTP{t}})
	tests := []struct {
		name   string
		from   string // the Sender's default
		change func(*Message)
		want   []string
	}{
		{"no recipient", "", func(m *Message) { m.To = nil }, []string{"no recipient"}},
		{"empty recipient", "", func(m *Message) { m.To = []string{"a@example.test", " "} }, []string{"recipient 2 is empty"}},
		{"bad recipient", "", func(m *Message) { m.To = []string{"not an address"} }, []string{`recipient "not an address"`}},
		{"too many recipients", "", func(m *Message) {
			m.To = nil
			for i := range MaxRecipients + 1 {
				m.To = append(m.To, fmt.Sprintf("r%d@example.test", i))
			}
		}, []string{"51 recipients"}},
		{"no subject", "", func(m *Message) { m.Subject = "  " }, []string{"empty subject"}},
		{"subject with a line break", "", func(m *Message) { m.Subject = "Hi\r\nBcc: x@example.test" }, []string{"subject has a line break"}},
		{"no text part", "", func(m *Message) { m.Text = "" }, []string{"empty text part"}},
		{"no HTML part", "", func(m *Message) { m.HTML = "" }, []string{"empty HTML part"}},
		{"no From anywhere", "", func(m *Message) { m.From = "" }, []string{"no From address"}},
		{"bad From", "", func(m *Message) { m.From = "countersign" }, []string{`From address "countersign"`}},
		{"bad default From", "nope", func(m *Message) { m.From = "" }, []string{`From address "nope"`}},
		{"bad tag name", "", func(m *Message) { m.Tags = map[string]string{"flag key": "x"} }, []string{`tag name "flag key"`}},
		{"bad tag value", "", func(m *Message) { m.Tags = map[string]string{"flag": "a.b"} }, []string{`tag flag value "a.b"`}},
		{"empty tag value", "", func(m *Message) { m.Tags = map[string]string{"flag": ""} }, []string{`tag flag value ""`}},
		{"everything at once", "", func(m *Message) { *m = Message{} }, []string{
			"no From address", "no recipient", "empty subject", "empty text part", "empty HTML part",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := reviewMessage()
			tt.change(&m)
			id, err := New(client, tt.from, "").Send(context.Background(), m)
			if err == nil {
				t.Fatalf("Send accepted an invalid message (id %q)", id)
			}
			if !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("error %v does not wrap ErrInvalidMessage", err)
			}
			if Retryable(err) {
				t.Errorf("Retryable(%v) = true", err)
			}
			// a bad sender blocks every message; anything else refuses this one
			wantClass := Refused
			if strings.Contains(tt.name, "From") || tt.name == "everything at once" {
				wantClass = Blocked
			}
			if got := Classify(err); got != wantClass {
				t.Errorf("Classify(%v) = %v, want %v", err, got, wantClass)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}

	if err := validate(reviewMessage()); err != nil {
		t.Errorf("the review message is invalid: %v", err)
	}
}

func TestSendWithoutClient(t *testing.T) {
	var s *Sender
	if _, err := s.Send(context.Background(), reviewMessage()); err == nil {
		t.Error("a nil Sender sent")
	}
	if _, err := New(nil, "", "").Send(context.Background(), reviewMessage()); err == nil {
		t.Error("a Sender without a client sent")
	}
}

// clearAWSEnv makes the AWS configuration chain find nothing.
func clearAWSEnv(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}
