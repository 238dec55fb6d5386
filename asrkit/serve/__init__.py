"""``asrkit serve``: a trained model as an HTTP and WebSocket service (needs ``pip install 'asrkit[serve]'``)."""
