"""Analytics: reports over the bank's customers (RFM segmentation, the churn model)."""
