"""Storage repositories: DynamoDB (`dynamo`), their in-memory twins (`memory`), the contract (`base`)."""
