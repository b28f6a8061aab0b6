package dynamowaits_test

import (
	"context"
	"os"
	"testing"

	"github.com/videoai/mediatasks/shared/callback"
	"github.com/videoai/mediatasks/shared/callback/dynamowaits"
	"github.com/videoai/mediatasks/shared/callback/waitstest"
	"github.com/videoai/mediatasks/shared/store/dynamostore"
	"github.com/videoai/mediatasks/shared/testkit/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

func TestConformance(t *testing.T) {
	waitstest.Run(t, func(t *testing.T) callback.Waits {
		db := awstest.DynamoDB(t)
		table := awstest.Name(t)
		if err := dynamostore.CreateTable(context.Background(), db, table); err != nil {
			t.Fatal(err)
		}
		return dynamowaits.New(db, table, nil)
	})
}
