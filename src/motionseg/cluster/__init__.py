"""motionseg.cluster"""
