# Countersign. `make run` starts the whole system locally; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
FUNCTIONS := api console timers notifier evaluate mailevents
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags="-s -w"
ARTIFACTS_DIR ?= bin

.PHONY: run test build deploy deploy-check lint fmt clean seed build-ApiFunction build-ConsoleFunction build-TimersFunction build-NotifierFunction build-EvaluateFunction build-MailEventsFunction

## run: the whole system in one process on 127.0.0.1:8080, data in ./.data, in
## development mode (mail catcher at /dev/mail, movable clock; loopback only).
## A team's instance: COUNTERSIGN_DEV=0 make run, with SES for e-mail.
COUNTERSIGN_DEV ?= 1
run:
	@echo "building Countersign (the first build downloads modules and takes a minute)..."
	@$(GO) build -o .tools/countersign ./functions/local
	COUNTERSIGN_DEV=$(COUNTERSIGN_DEV) .tools/countersign

## test: everything — vet, gofmt, unit and handler tests with -race, the store
## conformance suite on bbolt and on DynamoDB Local (started and stopped here)
test:
	@./scripts/test.sh

## build: every Lambda function as bin/<function>/bootstrap (linux/arm64)
build:
	@for f in $(FUNCTIONS); do \
		echo "building $$f"; \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/$$f/bootstrap ./functions/$$f || exit 1; \
	done

# `sam build` calls build-<LogicalId> with ARTIFACTS_DIR set (BuildMethod: makefile).
build-ApiFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/api

build-ConsoleFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/console

build-TimersFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/timers

build-NotifierFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/notifier

build-EvaluateFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/evaluate

build-MailEventsFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/mailevents

## deploy: needs the AWS SAM CLI and AWS credentials; STAGE=dev|staging|prod.
## Asks the sender address, the first admin's e-mail and an optional custom
## domain, then runs sam build and a non-guided sam deploy (scripts/deploy.sh,
## infra/README.md). PARAMS="AlarmEmail=ops@example.com ..." sets more
## template parameters (or answers a question in advance); --yes in PARAMS
## skips the confirmations.
STAGE ?= dev
PARAMS ?=
deploy:
	./scripts/deploy.sh $(STAGE) $(PARAMS)

## deploy-check: cfn-lint and the SAM translation of template.yaml (no AWS needed)
deploy-check:
	./scripts/deploy.sh --check

seed:
	./scripts/seed.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin .aws-sam
