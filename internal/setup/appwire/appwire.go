// Package appwire builds the application service with its action link
// key: what the api, timers and notifier functions and the local process
// share (the evaluate function needs no service).
package appwire

import (
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
)

// Service is the application service over store, with the action link key
// (see Links).
func Service(cfg config.Config, store domain.Store, clk clock.Clock, log *slog.Logger, keyFile string) (*app.Service, error) {
	svc := app.New(store, clk, log)
	if err := Links(cfg, svc, keyFile); err != nil {
		return nil, err
	}
	return svc, nil
}

// Links gives svc the action link key: COUNTERSIGN_LINK_KEY (hex, or the
// raw secret Secrets Manager made, on AWS), else, when keyFile is not "",
// a key file created on first start (local runs).
func Links(cfg config.Config, svc *app.Service, keyFile string) error {
	key, err := LinkKey(cfg, keyFile)
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

// LinkKey is the action link key (see Links).
func LinkKey(cfg config.Config, keyFile string) ([]byte, error) {
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
