"""Storage: DynamoDB repositories (`dynamo`), in-memory twins (`memory`), the contract (`base`)."""
