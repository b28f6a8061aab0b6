package main

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// apiPath is every route of the platform's API; the functions route
// further inside (shared/api).
const apiPath = "/api/v1/{proxy+}"

// accessLogFields are the API's access log, one JSON object per request.
var accessLogFields = map[string]string{
	"requestId":          "$context.requestId",
	"ip":                 "$context.identity.sourceIp",
	"routeKey":           "$context.routeKey",
	"status":             "$context.status",
	"latency":            "$context.responseLatency",
	"integrationLatency": "$context.integrationLatency",
	"responseLength":     "$context.responseLength",
}

// newAPI is the HTTP API: writes (POST) go to submit, reads (GET) to
// status, so that each function's role holds only its half.
func (b *builder) newAPI(fns functions) awsapigatewayv2.HttpApi {
	api := awsapigatewayv2.NewHttpApi(b.stack, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		ApiName:     b.name("api"),
		Description: jsii.String("mediatasks " + b.settings.Stage + ": the task API"),
		// The stage is made below, with throttling and access logs.
		CreateDefaultStage: jsii.Bool(false),
	})
	for _, route := range []struct {
		id     string
		method awsapigatewayv2.HttpMethod
		fn     awslambda.Function
	}{
		{"SubmitIntegration", awsapigatewayv2.HttpMethod_POST, fns.submit},
		{"StatusIntegration", awsapigatewayv2.HttpMethod_GET, fns.status},
	} {
		api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:    jsii.String(apiPath),
			Methods: &[]awsapigatewayv2.HttpMethod{route.method},
			Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(route.id), route.fn,
				&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
					PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
				}),
		})
	}

	accessLogs := awslogs.NewLogGroup(b.stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/apigateway/" + *b.name("api") + "/access"),
		Retention:     b.settings.logRetention(),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	stage := awsapigatewayv2.NewHttpStage(b.stack, jsii.String("ApiStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    api,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(b.settings.APIThrottleRate),
			BurstLimit: jsii.Number(float64(b.settings.APIThrottleBurst)),
		},
	})
	format, err := json.Marshal(accessLogFields)
	if err != nil {
		panic(fmt.Errorf("access log format: %w", err))
	}
	// Set on the CloudFormation stage itself, which is also where cdk-nag
	// looks for it.
	cfnStage := stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: accessLogs.LogGroupArn(),
		Format:         jsii.String(string(format)),
	})

	suppress(api,
		nagSuppression{"AwsSolutions-APIG4",
			"The functions authenticate every request themselves (API keys, or JWT bearer tokens signed with the keys secret) and answer 401; an API Gateway authorizer would duplicate that check and cost a call per request.", nil},
	)
	awscdk.NewCfnOutput(b.stack, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{
		Description: jsii.String("The API's base URL; routes are under api/v1/."),
		Value:       stage.Url(),
	})
	return api
}
