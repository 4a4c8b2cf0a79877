"""Loopback stand-ins for AWS services moto does not have, speaking their real wire protocols."""
