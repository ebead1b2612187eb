"""A ticket's life after the sale: its number (numbering.py), its signed code
(codes.py, keys.py), the e-mail that carries it (outbox.py, mail.py,
worker.py, smtp.py) and the door that checks it (door.py, door_repo.py).

Checkout calls in for the order transaction's pieces (issuer.py); nothing
here imports checkout.
"""
