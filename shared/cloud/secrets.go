package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/videoai/mediatasks/shared/config"
)

// keysSecret is the shape of the secret EnvKeysSecret names.
type keysSecret struct {
	JWTSecret string `json:"jwt_secret"`
	CursorKey string `json:"cursor_key"`
	// LLMAPIKey is the key of the LLM that rewrites prompts
	// (prompt.llm), so that it sits in no function's configuration.
	LLMAPIKey string `json:"llm_api_key"`
}

// readSecrets fills env's keys and cfg's provider settings from the
// secrets env names, if any: one read each, at start.
func readSecrets(ctx context.Context, client *secretsmanager.Client, env *Env) error {
	if env.KeysSecret != "" {
		var keys keysSecret
		if err := readSecretJSON(ctx, client, env.KeysSecret, &keys); err != nil {
			return err
		}
		if keys.CursorKey == "" {
			return fmt.Errorf("secret %s (%s): no cursor_key", env.KeysSecret, EnvKeysSecret)
		}
		env.CursorKey, env.JWTSecret, env.LLMAPIKey = []byte(keys.CursorKey), []byte(keys.JWTSecret), keys.LLMAPIKey
		from := "secret " + env.KeysSecret + " "
		if err := errors.Join(env.checkKeys(from+"cursor_key", from+"jwt_secret")...); err != nil {
			return err
		}
	}
	if env.ProviderSecret != "" {
		var settings map[string]map[string]json.RawMessage
		if err := readSecretJSON(ctx, client, env.ProviderSecret, &settings); err != nil {
			return err
		}
		providers, err := withSettings(env.Config.Providers, settings)
		if err != nil {
			return fmt.Errorf("secret %s (%s): %w", env.ProviderSecret, EnvProviderSecret, err)
		}
		env.Config.Providers = providers
	}
	return nil
}

func readSecretJSON(ctx context.Context, client *secretsmanager.Client, id string, v any) error {
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return fmt.Errorf("read secret %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), v); err != nil {
		return fmt.Errorf("secret %s: not the JSON object expected: %w", id, err)
	}
	return nil
}

// withSettings merges each provider's secret settings into its options;
// a secret setting wins over the configuration's. A secret entry for no
// configured provider is an error, so that a misspelt name shows.
func withSettings(providers []config.Provider, settings map[string]map[string]json.RawMessage) ([]config.Provider, error) {
	out := append([]config.Provider(nil), providers...)
	used := map[string]bool{}
	for i, p := range out {
		secret, ok := settings[p.Name]
		if !ok {
			continue
		}
		used[p.Name] = true
		opts := map[string]json.RawMessage{}
		if len(p.Options) > 0 {
			if err := json.Unmarshal(p.Options, &opts); err != nil {
				return nil, fmt.Errorf("provider %s: options: %w", p.Name, err)
			}
		}
		maps.Copy(opts, secret)
		merged, err := json.Marshal(opts)
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", p.Name, err)
		}
		out[i].Options = merged
	}
	for name := range settings {
		if !used[name] {
			return nil, fmt.Errorf("settings for %q, which is no configured provider", name)
		}
	}
	return out, nil
}
