package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
)

// secrets are what the functions read at start and that must not sit in
// their configuration.
type secrets struct {
	// keys is {"jwt_secret": "...", "cursor_key": "..."}: the HMAC keys
	// that sign bearer tokens and listing cursors; operators add
	// "llm_api_key", the prompt rewriter's key.
	keys awssecretsmanager.Secret
	// providers is {"<provider>": {<options>}}: the providers' own
	// settings (their API keys), merged into the configuration at start.
	providers awssecretsmanager.Secret
	// jwtSeed generates the JWT secret once, for keys; nothing reads it
	// afterwards.
	jwtSeed awssecretsmanager.Secret
}

// keyLength is the length of each generated key: 64 letters and digits,
// about 380 bits, well above the 32 bytes the functions require.
const keyLength = 64

// The JSON fields of the keys secret (shared/cloud reads them).
const (
	jwtSecretField = "jwt_secret"
	cursorKeyField = "cursor_key"
)

// newSecrets makes the keys secret with both keys generated. Secrets
// Manager generates one field per secret, so the JWT secret is generated
// in a seed secret first and copied into the keys secret's template by a
// CloudFormation dynamic reference, which is resolved at deploy time and
// never written to the template; the cursor key is the keys secret's own
// generated field.
func (b *builder) newSecrets() secrets {
	prefix := "mediatasks/" + b.settings.Stage + "/"
	seed := awssecretsmanager.NewSecret(b.stack, jsii.String("JWTSecretSeed"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String(prefix + "jwt-secret-seed"),
		Description: jsii.String("Generates the JWT secret of " + prefix + "keys at creation; nothing reads it afterwards."),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String("{}"),
			GenerateStringKey:    jsii.String(jwtSecretField),
			PasswordLength:       jsii.Number(keyLength),
			ExcludePunctuation:   jsii.Bool(true),
		},
	})
	jwtSecret := awscdk.SecretValue_SecretsManager(seed.SecretArn(), &awscdk.SecretsManagerSecretOptions{
		JsonField: jsii.String(jwtSecretField),
	})
	keys := awssecretsmanager.NewSecret(b.stack, jsii.String("KeysSecret"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String(prefix + "keys"),
		Description: jsii.String("mediatasks " + b.settings.Stage + ": the HMAC keys that sign bearer tokens (jwt_secret) and listing cursors (cursor_key); operators add llm_api_key, the key of the LLM that rewrites prompts."),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			// Letters and digits only, so the resolved value cannot break
			// the JSON it is placed in.
			SecretStringTemplate: jsii.String(`{"` + jwtSecretField + `":"` + *jwtSecret.UnsafeUnwrap() + `"}`),
			GenerateStringKey:    jsii.String(cursorKeyField),
			PasswordLength:       jsii.Number(keyLength),
			ExcludePunctuation:   jsii.Bool(true),
		},
	})
	providers := awssecretsmanager.NewSecret(b.stack, jsii.String("ProvidersSecret"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String(prefix + "providers"),
		Description: jsii.String(`mediatasks ` + b.settings.Stage + `: the providers' settings, {"<provider>": {"api_key": "..."}}, set by operators.`),
		// Operators put the providers' keys here; the stack only creates
		// it empty and never writes it again, as its template value does
		// not change.
		SecretStringValue: awscdk.SecretValue_UnsafePlainText(jsii.String("{}")),
	})

	for _, s := range []awssecretsmanager.Secret{seed, keys} {
		suppress(s, nagSuppression{"AwsSolutions-SMG4",
			"HMAC keys for bearer tokens and listing cursors: rotating them would invalidate every issued token and cursor at once; they are replaced by hand, with a planned cut-over.", nil})
	}
	suppress(providers, nagSuppression{"AwsSolutions-SMG4",
		"Third-party provider API keys: they are issued and rotated in each provider's console, then stored here by operators; Secrets Manager has no rotation function for them.", nil})
	return secrets{keys: keys, providers: providers, jwtSeed: seed}
}
