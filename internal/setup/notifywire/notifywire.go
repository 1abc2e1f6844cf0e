// Package notifywire builds the notifier of the timers and notifier
// functions: e-mail through SES v2, domain events to EventBridge. Only
// those two functions link it (the api function writes the outbox and
// sends nothing itself).
package notifywire

import (
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/notify"
	"github.com/countersign/countersign/internal/notify/eventbus"
	"github.com/countersign/countersign/internal/notify/sesmail"
)

// Notifier builds the AWS notifier. awsCfg gives the SDK configuration of
// a client at an endpoint ("" for AWS; lambdabase.Base.AWS): SES at
// COUNTERSIGN_SES_ENDPOINT when it is set (the local emulator), EventBridge
// on AWS. Building the clients makes no call.
func Notifier(cfg config.Config, awsCfg func(endpoint string) (aws.Config, error), store domain.Store, svc *app.Service, log *slog.Logger) (*notify.Notifier, error) {
	sesCfg, err := awsCfg(cfg.SESEndpoint)
	if err != nil {
		return nil, err
	}
	ebCfg, err := awsCfg("")
	if err != nil {
		return nil, err
	}
	ses := sesv2.NewFromConfig(sesCfg, func(o *sesv2.Options) {
		if cfg.SESEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.SESEndpoint)
		}
	})
	mailer := sesmail.New(ses, cfg.MailFrom, cfg.SESConfigSet)
	events := eventbus.New(eventbridge.NewFromConfig(ebCfg), cfg.EventBus, eventbus.DefaultSource)
	return notify.New(store, svc, mailer, events, clock.System{}, log, cfg.MailFrom, cfg.BaseURL), nil
}
