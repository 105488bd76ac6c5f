"""The admin dashboard at `/admin`: orders, their timelines, refunds, machines, products, sales."""
