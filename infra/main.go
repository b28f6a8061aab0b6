// Command infra is the platform's AWS CDK app: `cdk synth` (cdk.json runs
// `go run ./infra`) writes the CloudFormation template of the stack
// mediatasks-<stage>. README.md describes the stack and its settings.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	err := run()
	jsii.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	settings, err := ReadSettings(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err != nil {
		return err
	}
	assets := DefaultAssetsDir
	if dir, ok := app.Node().TryGetContext(jsii.String("assetsDir")).(string); ok && dir != "" {
		assets = dir
	}
	if err := checkAssets(assets); err != nil {
		return err
	}
	NewStack(app, settings.Prefix(), StackProps{
		// No Env: account and region come from the credentials at deploy
		// time, and the template holds no account of its own.
		StackProps: awscdk.StackProps{
			Description: jsii.String("mediatasks " + settings.Stage + ": media-AI task platform"),
		},
		Settings:  settings,
		AssetsDir: assets,
	})
	CheckCompliance(app)
	app.Synth(nil)
	return nil
}

// CheckCompliance runs the cdk-nag AWS Solutions rules over everything in
// app at synthesis; findings are annotations on the resources (errors
// fail `cdk deploy`, and the tests).
func CheckCompliance(app awscdk.App) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// checkAssets says which function builds are missing, rather than letting
// the asset staging fail on the first.
func checkAssets(dir string) error {
	var errs []error
	for _, spec := range []functionSpec{submitSpec, statusSpec, processSpec, webhookSpec} {
		path := filepath.Join(dir, spec.name, "bootstrap")
		if _, err := os.Stat(path); err != nil {
			errs = append(errs, fmt.Errorf("function %s: %w", spec.name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("the functions are not built in %s (make build-lambdas): %w", dir, err)
	}
	return nil
}
