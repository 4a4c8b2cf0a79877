"""``python -m awsomechat.runner --listen …``: the model runner process."""

import sys

from awsomechat.runner.server import main

sys.exit(main())
