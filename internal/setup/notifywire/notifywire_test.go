package notifywire_test

import (
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/setup/notifywire"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// The notifier asks for SES's configuration at COUNTERSIGN_SES_ENDPOINT
// and EventBridge's on AWS, and builds its clients without a call.
func TestNotifier(t *testing.T) {
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := slog.New(slog.DiscardHandler)
	svc := app.New(store, clock.System{}, log)
	cfg := config.Config{MailFrom: "cs@example.com", SESEndpoint: "http://127.0.0.1:8005", BaseURL: "https://flags.example.com"}
	var asked []string
	awsCfg := func(endpoint string) (aws.Config, error) {
		asked = append(asked, endpoint)
		return aws.Config{Region: "eu-west-1"}, nil
	}
	n, err := notifywire.Notifier(cfg, awsCfg, store, svc, log)
	if err != nil || n == nil {
		t.Fatalf("%v %v", n, err)
	}
	if !slices.Equal(asked, []string{"http://127.0.0.1:8005", ""}) {
		t.Fatalf("configurations asked for: %q", asked)
	}
	broken := func(string) (aws.Config, error) { return aws.Config{}, errors.New("no region") }
	if _, err := notifywire.Notifier(cfg, broken, store, svc, log); err == nil {
		t.Fatal("a broken AWS configuration: no error")
	}
}
