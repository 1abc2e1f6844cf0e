package setup

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/notify"
	"github.com/countersign/countersign/internal/notify/eventbus"
	"github.com/countersign/countersign/internal/notify/sesmail"
)

// Links gives svc the action link key: COUNTERSIGN_LINK_KEY (hex, or the
// raw secret Secrets Manager made, on AWS), else, when keyFile is not "",
// a key file created on first start (local runs).
func Links(cfg config.Config, svc *app.Service, keyFile string) error {
	key, err := linkKey(cfg, keyFile)
	if err != nil {
		return err
	}
	signer, err := actionlink.NewSigner(key)
	if err != nil {
		return err
	}
	svc.WithLinks(signer)
	return nil
}

// linkKey is the action link key (see Links).
func linkKey(cfg config.Config, keyFile string) ([]byte, error) {
	var key []byte
	switch {
	case cfg.LinkKey != "":
		var err error
		if key, err = hex.DecodeString(cfg.LinkKey); err != nil {
			key = []byte(cfg.LinkKey)
		}
	case keyFile != "":
		var err error
		if key, err = actionlink.LoadOrCreateKey(keyFile); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("COUNTERSIGN_LINK_KEY is not set: e-mail action links need a key")
	}
	return key, nil
}

// Notifier builds the AWS notifier: SES v2 for e-mail, EventBridge for
// domain events.
func Notifier(ctx context.Context, cfg config.Config, store domain.Store, svc *app.Service, log *slog.Logger) (*notify.Notifier, error) {
	sesClient, err := sesmail.NewClient(ctx, cfg.SESEndpoint, "")
	if err != nil {
		return nil, err
	}
	ebClient, err := eventbus.NewClient(ctx, "", "")
	if err != nil {
		return nil, err
	}
	mailer := sesmail.New(sesClient, cfg.MailFrom, cfg.SESConfigSet)
	events := eventbus.New(ebClient, cfg.EventBus, "countersign")
	return notify.New(store, svc, mailer, events, clock.System{}, log, cfg.MailFrom, cfg.BaseURL), nil
}
